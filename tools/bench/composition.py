"""Every cell of the composition matrix, measured: short pre-training -> transfer -> fine-tuning loss.

For each pre-training config of the matrix (mmdet_detrx/utils/composition.py) a short run (``--pretrain-images``
images, one epoch) gives a checkpoint; ``tools/model_converters/transfer.py`` maps it into each cell's config;
every cell (scratch ones too) then fine-tunes ``--iters`` iterations on BCCD (the first ``2 * --iters`` training
images, batch 2, one epoch, 5 warm-up iterations, no validation) and the mean training loss of the first and last 5
iterations is recorded, per seed. This shows every chain running end to end and the loss going down; it is not an
accuracy benchmark (use ``tools/benchmark.py convergence`` for mAP over epochs).

    python tools/benchmark.py composition --work-dir work_dirs/composition --iters 20 --seeds 0 1 2 \
        --json docs/results/composition.json

Runs go through ``tools/train.py`` in subprocesses (one thread each, ``--jobs`` at a time); finished runs are
reused (their ``scalars.json``), so an interrupted call continues where it stopped.
"""
import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# the fine-tuning schedule's linear warm-up (200 iterations) would cover the whole short run: 5 iterations here
FAST_WARMUP = 'param_scheduler.0.end=5'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', default='work_dirs/composition', help='runs go to WORK_DIR/<cell>/seed<k>')
    parser.add_argument('--iters', type=int, default=30, help='fine-tuning iterations per cell (batch 2)')
    parser.add_argument('--pretrain-images', type=int, default=64, help='images of the one-epoch pre-trainings')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0], help='fine-tuning seeds')
    parser.add_argument('--jobs', type=int, default=2, help='trainings at once (one thread each)')
    parser.add_argument('--json', help='write the results here')


def _scalars(work_dir: str) -> List[dict]:
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        return []
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def _train(config: str, work_dir: str, options: List[str]) -> Optional[float]:
    """Runs tools/train.py unless ``work_dir`` holds a finished run; returns the seconds it took (those recorded
    by the run when reused, None if it recorded none)."""
    seconds_file = osp.join(work_dir, 'seconds.txt')
    if glob.glob(osp.join(work_dir, 'epoch_1.pth')) and _scalars(work_dir):
        if osp.isfile(seconds_file):
            with open(seconds_file) as f:
                return float(f.read())
        return None
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    start = time.time()
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'train.log'), 'w') as log:
        proc = subprocess.run([sys.executable, 'tools/train.py', config, '--work-dir', work_dir, '--cfg-options',
                               *options], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f'training {config} failed (exit {proc.returncode}); see {work_dir}/train.log')
    seconds = time.time() - start
    with open(seconds_file, 'w') as f:
        f.write(f'{seconds:.1f}')
    return seconds


def _indices_options(config: str, images: int) -> List[str]:
    """``--cfg-options`` that keep the first ``images`` training images (split evenly over concatenated sets)."""
    from mmengine.config import Config

    def walk(node, key: str, n: int) -> List[str]:
        if isinstance(node.get('datasets'), (list, tuple)):
            k = len(node['datasets'])
            return [o for i, child in enumerate(node['datasets']) for o in walk(child, f'{key}.datasets.{i}', n // k)]
        if isinstance(node.get('dataset'), dict):
            return walk(node['dataset'], f'{key}.dataset', n)
        return [f'{key}.indices={max(n, 1)}']

    return walk(Config.fromfile(osp.join(REPO, config)).train_dataloader.dataset, 'train_dataloader.dataset', images)


def _short_run(config: str, images: int, seed: int) -> List[str]:
    return _indices_options(config, images) + [
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=100', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1', f'randomness.seed={seed}']


def _transfer(src: str, dst: str, config: str) -> Dict[str, list]:
    proc = subprocess.run([sys.executable, 'tools/model_converters/transfer.py', src, dst, '--config', config],
                          cwd=REPO, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS='ignore'))
    if proc.returncode != 0:
        raise RuntimeError(f'transfer into {config} failed: {proc.stderr[-2000:]}')
    fill = [line.strip() for line in proc.stdout.splitlines() if line.startswith(('encoder:', 'decoder:'))]
    return dict(fill=fill)


def _spread(values: List[float]) -> str:
    """Mean, with [min, max] over seeds when there are several."""
    text = f'{statistics.mean(values):.2f}'
    return text + (f' [{min(values):.2f}, {max(values):.2f}]' if len(values) > 1 else '')


def _cell_dir(cell) -> str:
    return f'{cell.pretraining}_{osp.splitext(osp.basename(cell.config))[0]}'


def main(args: argparse.Namespace) -> None:
    from mmdet_detrx.utils.composition import cells

    work = osp.abspath(args.work_dir)
    todo = cells()
    pretrains = sorted({c.pretrain_config for c in todo if c.pretrain_config})
    ckpts = {}

    def pretrain(config: str) -> None:
        wd = osp.join(work, 'pretrain', osp.splitext(osp.basename(config))[0])
        seconds = _train(config, wd, pretrain_options[config])
        print(f'[composition] pre-trained {config} ({seconds or 0:.0f} s)', file=sys.stderr, flush=True)
        ckpts[config] = osp.join(wd, 'epoch_1.pth')

    # the configs are read here, in one thread (mmengine's Config is not safe to load from several threads)
    pretrain_options = {config: _short_run(config, args.pretrain_images, 0) for config in pretrains}
    cell_options = {cell.config: _short_run(cell.config, 2 * args.iters, 0) + [FAST_WARMUP] for cell in todo}
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(pretrain, pretrains))

    def finetune(job) -> dict:
        cell, seed = job
        wd = osp.join(work, _cell_dir(cell), f'seed{seed}')
        options = [o for o in cell_options[cell.config] if not o.startswith('randomness.seed=')]
        options.append(f'randomness.seed={seed}')
        record = dict(cell=cell.name, pretraining=cell.pretraining, base=cell.base, training=cell.training,
                      config=cell.config, pretrain_config=cell.pretrain_config, seed=seed)
        if cell.pretrain_config:
            os.makedirs(wd, exist_ok=True)
            init = osp.join(wd, 'init.pth')  # one per run: the seeds of a cell run side by side
            record.update(_transfer(ckpts[cell.pretrain_config], init, cell.config))
            options.append(f'load_from={init}')
        seconds = _train(cell.config, wd, options)
        record['seconds'] = None if seconds is None else round(seconds, 1)
        losses = [r['loss'] for r in _scalars(wd) if 'loss' in r]
        record.update(iterations=len(losses), loss_first5=statistics.mean(losses[:5]),
                      loss_last5=statistics.mean(losses[-5:]))
        print(f'[composition] {cell.name} seed {seed}: loss {record["loss_first5"]:.2f} -> '
              f'{record["loss_last5"]:.2f}', file=sys.stderr, flush=True)
        return record

    def finetune_or_report(job) -> dict:
        try:
            return finetune(job)
        except Exception as err:  # noqa: BLE001 - reported per cell, the other cells go on
            print(f'[composition] {job[0].name} seed {job[1]} FAILED: {err}', file=sys.stderr, flush=True)
            return dict(cell=job[0].name, seed=job[1], error=str(err))

    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(finetune_or_report, [(c, s) for c in todo for s in args.seeds]))
    records = [r for r in results if 'error' not in r]
    failed = [r for r in results if 'error' in r]
    table = ['| cell | seeds | loss, first 5 iterations | loss, last 5 | transfer fill |', '|---|---|---|---|---|']
    for cell in todo:
        rows = [r for r in records if r['cell'] == cell.name]
        if not rows:
            table.append(f'| {cell.name} | 0 | failed | failed | - |')
            continue
        first = [r['loss_first5'] for r in rows]
        last = [r['loss_last5'] for r in rows]
        fill = '; '.join(rows[0].get('fill', [])) or '-'
        table.append(f'| {cell.name} | {len(rows)} | {_spread(first)} | {_spread(last)} | {fill} |')
    print('\n'.join(table))
    if args.json:
        out = dict(command=' '.join(sys.argv), iters=args.iters, pretrain_images=args.pretrain_images,
                   seeds=args.seeds, records=records, failed=failed)
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(out, f, indent=1)
    if failed:
        sys.exit(f'{len(failed)} run(s) failed: ' + ', '.join(f"{r['cell']} seed {r['seed']}" for r in failed))
