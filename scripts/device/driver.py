"""The evidence trainings of docs/benchmarks.md as a queue with dependencies and a hard deadline (a GPU lease).

    python scripts/device/driver.py --slots 12 --deadline 540 [--only NAME ...] [--smoke]

Each job is a shell command chain (tools/train.py with the options ``benchmark.py convergence`` passes, then
tools/test.py on the last epoch; pre-training jobs also convert their checkpoint with
tools/model_converters/transfer.py) with its log in work_dirs/device_logs/<job>.log; the run folders are where
the claims' ``convergence --resume-existing`` commands look (work_dirs/claims/<claim>/seed<S>/<a|b>_<config>).
Jobs start in list order once their dependencies exited 0 and a slot is free (a job with dependencies may use
4 slots more, so a chain continues at once). At the deadline every running job is killed. ``--smoke`` trains one
epoch on a few images per split (a check of the commands on a CPU).
"""
import argparse
import os
import signal
import subprocess
import sys
import time

P = sys.executable
LOGS = 'work_dirs/device_logs'


def smoke_opts(config, loaders=('train', 'val')):
    """--smoke: a few images per split (datasets of a MultiLabelSpaceDataset each)."""
    if not SMOKE:
        return ''
    from mmengine import Config
    cfg = Config.fromfile(config)
    opts = []
    for split in loaders:
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        ds = loader['dataset']
        if ds.get('datasets'):
            opts += [f'{split}_dataloader.dataset.datasets.{i}.indices=2' for i in range(len(ds['datasets']))]
        else:
            opts.append(f'{split}_dataloader.dataset.indices=4')
    return ' '.join(opts) + ' default_hooks.logger.interval=1'


def train_test(config, wd, epochs, seed, extra=''):
    """train.py then test.py on the last epoch, the options the convergence tool passes."""
    opts = f'train_cfg.max_epochs={epochs} train_cfg.val_interval=1 randomness.seed={seed} ' \
           f'default_hooks.checkpoint.max_keep_ckpts=1 {smoke_opts(config)} {extra}'
    test_opts = smoke_opts(config, ('test',))
    return (f'{P} tools/train.py {config} --work-dir {wd} --cfg-options {opts} && '
            f'{P} tools/test.py {config} {wd}/epoch_{epochs}.pth --work-dir {wd}/test_out '
            + (f'--cfg-options {test_opts} ' if test_opts else '') + f'> {wd}/test.log 2>&1')


def jobs():
    J = []
    c3 = 'work_dirs/claims/claim3'
    up_pre = 'work_dirs/up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd'
    up_cfg = 'configs/up_detr/up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py'
    ft_cfg = 'configs/up_detr/up-conditional-detr_lite0_1xb2-14e_finetune-bccd.py'
    cond_cfg = 'configs/conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py'
    J.append(dict(name='up_pretrain', deps=[], cmd=(
        f'{P} tools/train.py {up_cfg} --work-dir {up_pre} --cfg-options default_hooks.checkpoint.max_keep_ckpts=1 '
        f'{smoke_opts(up_cfg)} {SMOKE_EPOCHS} && '
        f'{P} tools/model_converters/transfer.py {up_pre}/epoch_{E(20)}.pth {up_pre}/finetune_init.pth '
        f'--config {ft_cfg}')))
    for s in (0, 1, 2):
        J.append(dict(name=f'c3_b_s{s}', deps=['up_pretrain'], cmd=train_test(
            ft_cfg, f'{c3}/seed{s}/b_up-conditional-detr_lite0_1xb2-14e_finetune-bccd', E(14), s)))
    for s in (0, 1, 2):
        J.append(dict(name=f'c3_a_s{s}', deps=[], cmd=train_test(
            cond_cfg, f'{c3}/seed{s}/a_conditional-detr_lite0_1xb2-14e_bccd', E(14), s)))
    c2 = 'work_dirs/claims/claim2_dino'
    for s in (0, 1, 2):
        J.append(dict(name=f'c2d_a_s{s}', deps=[], cmd=train_test(
            'configs/dino/dino_lite0_1xb2-14e_bccd.py', f'{c2}/seed{s}/a_dino_lite0_1xb2-14e_bccd', E(14), s)))
        J.append(dict(name=f'c2d_b_s{s}', deps=[], cmd=train_test(
            'configs/co_detr/co-dino_lite0_1xb2-14e_bccd.py', f'{c2}/seed{s}/b_co-dino_lite0_1xb2-14e_bccd',
            E(14), s)))
    c2f = 'work_dirs/claims/claim2_deformable-detr_fix'  # A side: the c4_a runs (same config and seeds)
    for s in (0, 1, 2):
        J.append(dict(name=f'c2f_b_s{s}', deps=[], cmd=train_test(
            'configs/co_detr/co-deformable-detr_lite0_1xb2-14e_bccd.py',
            f'{c2f}/seed{s}/b_co-deformable-detr_lite0_1xb2-14e_bccd', E(14), s)))
    metr_wd = 'work_dirs/metr_lite0_1xb2-12e_coco128-bccd'
    metr_cfg = 'configs/metr/metr_lite0_1xb2-12e_coco128-bccd.py'
    tr_cfg = 'configs/metr/deformable-detr_lite0_1xb2-14e_bccd_from-metr.py'
    J.append(dict(name='metr_joint_s0', deps=[], cmd=(
        train_test(metr_cfg, metr_wd, E(12), 0) + ' && '
        f'{P} tools/model_converters/transfer.py {metr_wd}/epoch_{E(12)}.pth {metr_wd}/deformable-detr_init.pth '
        f'--config {tr_cfg}')))
    c4 = 'work_dirs/claims/claim4_transfer'
    for s in (0, 1, 2):
        J.append(dict(name=f'c4_b_s{s}', deps=['metr_joint_s0'], cmd=train_test(
            tr_cfg, f'{c4}/seed{s}/b_deformable-detr_lite0_1xb2-14e_bccd_from-metr', E(14), s)))
    for s in (0, 1, 2):
        J.append(dict(name=f'c4_a_s{s}', deps=[], cmd=train_test(
            'configs/deformable_detr/deformable-detr_lite0_1xb2-14e_bccd.py',
            f'{c4}/seed{s}/a_deformable-detr_lite0_1xb2-14e_bccd', E(14), s)))
    cm = 'work_dirs/claims/claim4_metr'
    for s in (0, 1, 2):
        for name in ('coco128', 'bccd'):
            J.append(dict(name=f'metr_{name}_s{s}', deps=[], cmd=train_test(
                f'configs/metr/metr_lite0_1xb2-12e_{name}.py', f'{cm}/seed{s}/metr_lite0_1xb2-12e_{name}', E(12), s)))
        if s:
            J.append(dict(name=f'metr_joint_s{s}', deps=[], cmd=train_test(
                metr_cfg, f'{cm}/seed{s}/metr_lite0_1xb2-12e_coco128-bccd', E(12), s)))
    J.append(dict(name='oneshot', deps=['up_pretrain'], cmd=train_test(
        'configs/up_detr/one-shot_up-conditional-detr_lite0_1xb2-12e_coco128.py',
        'work_dirs/claims/claim3_oneshot/one-shot_up-conditional-detr_lite0_1xb2-12e_coco128', E(12), 0)))
    first = ['up_pretrain', 'c3_b_s0', 'c3_b_s1', 'c3_b_s2', 'metr_joint_s0', 'c4_b_s0', 'c4_b_s1', 'c4_b_s2']
    return [j for n in first for j in J if j['name'] == n] + [j for j in J if j['name'] not in first]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--slots', type=int, default=10)
    parser.add_argument('--deadline', type=float, default=540, help='seconds from start')
    parser.add_argument('--smoke', action='store_true')
    parser.add_argument('--only', nargs='*', help='job names to run (default: all)')
    args = parser.parse_args()
    global SMOKE, SMOKE_EPOCHS, E
    if args.smoke:
        SMOKE = True
        SMOKE_EPOCHS = 'train_cfg.max_epochs=1'
        E = lambda e: 1  # noqa: E731
    t0 = time.time()
    os.makedirs(LOGS, exist_ok=True)
    todo = [j for j in jobs() if not args.only or j['name'] in args.only]
    running, done = {}, {}
    while todo or running:
        for name, (proc, log, ts) in list(running.items()):
            if proc.poll() is not None:
                done[name] = proc.returncode
                log.close()
                del running[name]
                print(f'[{time.time() - t0:6.0f}s] done {name} rc={proc.returncode} in {time.time() - ts:.0f}s',
                      flush=True)
        for j in list(todo):
            if len(running) >= args.slots + (4 if j['deps'] else 0):
                continue
            if any(d in done and done[d] != 0 for d in j['deps']):
                todo.remove(j)
                done[j['name']] = 'skipped'
                print(f'skip {j["name"]}: a dependency failed', flush=True)
                continue
            if all(done.get(d) == 0 for d in j['deps']):
                todo.remove(j)
                log = open(f'{LOGS}/{j["name"]}.log', 'w')
                log.write(j['cmd'] + '\n')
                log.flush()
                proc = subprocess.Popen(['bash', '-c', j['cmd']], stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
                running[j['name']] = (proc, log, time.time())
                print(f'[{time.time() - t0:6.0f}s] start {j["name"]}', flush=True)
        if time.time() - t0 > args.deadline:
            for name, (proc, log, ts) in running.items():
                os.killpg(proc.pid, signal.SIGKILL)
                print(f'[{time.time() - t0:6.0f}s] killed {name} at the deadline', flush=True)
            break
        time.sleep(2)
    print('finished:', {k: v for k, v in done.items()}, flush=True)
    print('not started:', [j['name'] for j in todo], flush=True)


SMOKE, SMOKE_EPOCHS = False, ''
E = lambda e: e  # noqa: E731

if __name__ == '__main__':
    main()
