"""``tools/benchmark.py compare`` and ``convergence`` on the tiny coco128 configs (ours vs mmdet's DETR)."""
import json
import statistics
import os.path as osp
import sys

import pytest

from tests.conftest import REPO, TINY_CONFIG, assert_ok, run_cmd

PY = sys.executable
TINY_DETR = osp.join(REPO, 'tests', 'configs', 'tiny_detr_coco128.py')
ENV = {'OMP_NUM_THREADS': '1'}
METRICS = ('params', 'flops', 'train_step_s', 'inference_s', 'peak_memory_bytes')


@pytest.fixture(scope='module')
def bench_modules():
    from tools.bench import _common, compare
    yield _common, compare


def _num_params(config: str) -> int:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import mmdet_detrx  # noqa: F401
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(config).model)
    return sum(p.numel() for p in model.parameters())


def test_compare_json_table_and_ratios(tmp_path):
    out = tmp_path / 'cmp.json'
    proc = run_cmd([PY, 'tools/benchmark.py', 'compare', TINY_CONFIG, TINY_DETR, '--repeats', '2', '--warmup', '1',
                    '--json', str(out)], env=ENV)
    assert_ok(proc)
    res = json.loads(out.read_text())
    for name in METRICS:
        m = res['metrics'][name]
        assert m['a'] is not None and m['a'] > 0, (name, m)
        assert m['b'] is not None and m['b'] > 0, (name, m)
        assert m['ratio'] == pytest.approx(m['b'] / m['a']), name
    for name in ('train_step_s', 'inference_s'):
        m = res['metrics'][name]
        assert len(m['a_samples']) == len(m['b_samples']) == 2
        # recomputed here from the raw samples, independently of the tool's own summary code
        assert m['a'] == pytest.approx(statistics.median(m['a_samples']))
        assert m['ratio'] == pytest.approx(statistics.median(m['b_samples']) / statistics.median(m['a_samples']))
        for k in 'ab':
            sp = m[f'{k}_spread']
            assert sp['min'] <= sp['q1'] <= sp['median'] <= sp['q3'] <= sp['max']
            assert sp['median'] == pytest.approx(m[k])
    assert res['metrics']['params']['a'] == _num_params(TINY_CONFIG)
    assert res['metrics']['params']['b'] == _num_params(TINY_DETR)
    assert res['batch']['size'] == 2 and res['batch']['input_shape_a'][:2] == [2, 3]
    # the progress goes to stderr, the markdown table (with the B/A column) to stdout
    assert 'train step: repeat 2/2' in proc.stderr
    assert '| metric | A | B | B/A |' in proc.stdout
    train_ratio = res['metrics']['train_step_s']['ratio']
    assert proc.stdout.strip().splitlines()[-1] == f'ratio={train_ratio:.3f}'
    # every timing carries the load it ran under; 2 repeats give no spread to judge by: flagged as noisy
    for name in ('train_step_s', 'inference_s'):
        noise = res['metrics'][name]['noise']
        assert len(noise['load_before']) == 3 and noise['cpus'] >= 1 and noise['noisy']
        assert any('fewer than 4 repeats' in w for w in noise['warnings'])
    assert 'train step: load average before (1/5/15 min):' in proc.stdout
    assert 'WARNING: fewer than 4 repeats' in proc.stdout


def test_noise_report_flags_a_busy_machine_and_a_wide_spread(bench_modules):
    common, _ = bench_modules
    cpus = common.os.cpu_count()
    tight = [1.0, 1.01, 0.99, 1.0, 1.02]
    quiet = common.noise_report(common.Timings(dict(a=tight, b=tight), load_before=(0.0, 0.0, 0.0)))
    assert not quiet['noisy'] and quiet['warnings'] == [] and quiet['relative_spread']['a'] < 0.05
    busy = common.noise_report(common.Timings(dict(a=tight), load_before=(cpus * 0.9, 1.0, 1.0)))
    assert busy['noisy'] and busy['warnings'][0].startswith('machine busy: 1-minute load average')
    # quartiles (inclusive) of 1, 1, 1, 2, 2, 2, 2: q1 = 1, median = 2, q3 = 2 -> IQR / median = 0.5
    wide = common.noise_report(common.Timings(dict(a=[1, 1, 1, 2, 2, 2, 2]), load_before=(0.0, 0.0, 0.0)))
    assert wide['relative_spread']['a'] == pytest.approx(0.5)
    assert wide['noisy'] and 'wide spread: a interquartile range is 50%' in wide['warnings'][0]
    timed = common.time_interleaved(dict(a=lambda: None), repeats=2, warmup=0)
    assert isinstance(timed, common.Timings) and len(timed['a']) == 2 and len(timed.load_before) == 3


def test_time_interleaved_pauses_before_each_call_outside_the_timing(bench_modules, monkeypatch):
    common, _ = bench_modules
    events = []
    monkeypatch.setattr(common.time, 'sleep', lambda s: events.append(('sleep', s)))
    timed = common.time_interleaved(dict(a=lambda: events.append('a'), b=lambda: events.append('b')),
                                    repeats=2, warmup=1, pause=0.2)
    # warm-up unpaused, then every timed call preceded by its pause; the order alternates per round
    assert events == ['a', 'b', ('sleep', 0.2), 'a', ('sleep', 0.2), 'b', ('sleep', 0.2), 'b', ('sleep', 0.2), 'a']
    assert all(t < 0.1 for ts in timed.values() for t in ts)


def test_argparse_number_types_name_the_bound(bench_modules):
    import argparse
    common, _ = bench_modules
    assert common.positive_int('3') == 3 and common.non_negative_int('0') == 0
    assert common.non_negative_float('0.25') == 0.25 and common.non_negative_float('0') == 0.
    for parse, text, message in [(common.positive_int, '0', 'must be >= 1, got 0'),
                                 (common.non_negative_int, '-1', 'must be >= 0, got -1'),
                                 (common.non_negative_float, '-0.5', 'must be >= 0.0, got -0.5')]:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse(text)


def test_compare_missing_data_names_the_path(tmp_path):
    proc = run_cmd([PY, 'tools/benchmark.py', 'compare', TINY_CONFIG, TINY_DETR, '--cfg-options',
                    f'train_dataloader.dataset.data_root={tmp_path}/no_coco/'], env=ENV)
    assert proc.returncode != 0
    assert f'{tmp_path}/no_coco/annotations/instances_train2017.json' in proc.stderr
    assert '--data' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_mmdet_config_and_pretrained_keys(bench_modules):
    common, compare = bench_modules
    cfg = common.load_any_config('mmdet::detr/detr_r50_8xb2-150e_coco.py')
    assert cfg.model.type == 'DETR' and cfg.default_scope == 'mmdet'
    assert compare.pretrained_init_keys(cfg.model) == ['model.backbone.init_cfg']
    assert compare.strip_pretrained(cfg) == ['model.backbone.init_cfg']
    assert cfg.model.backbone.init_cfg is None
    assert compare.pretrained_init_keys(cfg.model) == []
    nested = dict(a=[dict(init_cfg=dict(type='Normal')), dict(init_cfg=[dict(type='Pretrained', checkpoint='x')])])
    assert compare.pretrained_init_keys(nested) == ['model.a.1.init_cfg']
    with pytest.raises(FileNotFoundError, match='data/coco/'):
        compare.check_data(cfg, 'config A')
    with pytest.raises(FileNotFoundError, match='no_such_config'):
        common.resolve_any_config('mmdet::detr/no_such_config.py')


def test_spread_quartiles(bench_modules):
    common, _ = bench_modules
    assert common.spread([4.0, 1.0, 3.0, 2.0, 5.0]) == dict(median=3.0, min=1.0, max=5.0, q1=2.0, q3=4.0)
    assert common.spread([2.0]) == dict(median=2.0, min=2.0, max=2.0, q1=2.0, q3=2.0)


def test_convergence_plot_table_and_reuse(tmp_path):
    wd, png, js = tmp_path / 'wd', tmp_path / 'plot.png', tmp_path / 'conv.json'
    cmd = [PY, 'tools/benchmark.py', 'convergence', TINY_CONFIG, TINY_DETR, '--epochs', '1', '--work-dir', str(wd),
           '--out', str(png), '--json', str(js), '--cfg-options', 'train_dataloader.dataset.indices=2',
           'val_dataloader.dataset.indices=2']
    proc = run_cmd(cmd, env=ENV)
    assert_ok(proc)
    data = png.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 2000
    rows = [line for line in proc.stdout.splitlines() if line.startswith('| ') and not line.startswith('| epoch')]
    assert len(rows) == 1 and rows[0].startswith('| 1 |'), proc.stdout
    res = json.loads(js.read_text())
    assert res['metric'] == 'coco/bbox_mAP'
    for tag in 'AB':
        assert list(res['runs'][tag]['values']) == ['1']
        assert 0.0 <= res['runs'][tag]['values']['1'] <= 1.0
        assert osp.isfile(osp.join(res['runs'][tag]['work_dir'], 'epoch_1.pth'))

    # finished runs are reused, not trained again
    png.unlink()
    again = run_cmd(cmd + ['--resume-existing'], env=ENV)
    assert_ok(again)
    assert again.stderr.count('reusing the finished run') == 2
    assert 'train.py' not in again.stderr
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert json.loads(js.read_text())['runs'] == res['runs']


@pytest.mark.parametrize('command', ['compare a b', 'hungarian', 'co-detr-inference', 'group-hungarian'])
def test_zero_repeats_is_refused_at_parsing(command, capsys):
    """The command line of tools/benchmark.py, parsed in this process (argparse exits 2 before any work)."""
    import runpy
    benchmark = runpy.run_path(osp.join(REPO, 'tools', 'benchmark.py'))
    with pytest.raises(SystemExit) as exit_info:
        benchmark['main']([*command.split(), '--repeats', '0'])
    assert exit_info.value.code == 2
    assert '--repeats: must be >= 1, got 0' in capsys.readouterr().err


def test_import_package_from_loads_a_package_with_relative_imports_without_sys_path(tmp_path):
    """How the co-detr benchmark imports mmdet's projects/CO-DETR/codetr from a source tree."""
    from tools.bench._common import import_package_from
    pkg = tmp_path / 'CO-DETR' / 'codetr'
    pkg.mkdir(parents=True)
    (pkg / '__init__.py').write_text('from .head import VALUE\n')
    (pkg / 'head.py').write_text('from .util import double\nVALUE = double(21)\n')
    (pkg / 'util.py').write_text('def double(x):\n    return 2 * x\n')
    path_before = list(sys.path)
    module = import_package_from(str(pkg), 'detrx_test_codetr')
    try:
        assert module.VALUE == 42 and sys.modules['detrx_test_codetr.head'].VALUE == 42
        assert sys.path == path_before
    finally:
        for name in [n for n in sys.modules if n.startswith('detrx_test_codetr')]:
            del sys.modules[name]
    (pkg / '__init__.py').unlink()
    with pytest.raises(FileNotFoundError, match='no __init__.py'):
        import_package_from(str(pkg), 'detrx_test_codetr')
    (pkg / '__init__.py').write_text('raise RuntimeError("broken")\n')
    with pytest.raises(RuntimeError, match='broken'):
        import_package_from(str(pkg), 'detrx_test_codetr')
    assert 'detrx_test_codetr' not in sys.modules


def test_seed_summary_mean_spread_direction_and_reach():
    from tools.bench.convergence import seed_summary
    per_seed = {
        0: dict(A={1: 0.0, 2: 0.1, 3: 0.2}, B={1: 0.2, 2: 0.4, 3: 0.5}),
        1: dict(A={1: 0.0, 2: 0.3, 3: 0.4}, B={1: 0.1, 2: 0.3, 3: 0.6, 4: 0.9}),  # epoch 4: not in every run
    }
    s = seed_summary(per_seed)
    assert s['seeds'] == [0, 1] and sorted(s['epochs']['A']) == [1, 2, 3] and s['last_epoch'] == 3
    assert s['epochs']['A'][2] == dict(mean=0.2, min=0.1, max=0.3)
    assert s['final']['B'] == dict(mean=0.55, min=0.5, max=0.6)
    assert s['direction'] == 'B > A'  # B's min 0.5 > A's max 0.4
    assert s['a_reaches_b_final'] is None and s['b_reaches_a_final'] == 2  # B's mean 0.35 >= A's final 0.3
    per_seed[1]['A'][3] = 0.55  # A's max now overlaps B's min
    assert seed_summary(per_seed)['direction'] == 'within the seed spread'
    with pytest.raises(ValueError, match='no seeds'):
        seed_summary({})
    assert 'train_seconds' not in s  # no times given


def test_seed_summary_wall_time_to_reach_the_other_sides_final():
    from tools.bench.convergence import seed_summary
    per_seed = {0: dict(A={1: 0.1, 2: 0.2}, B={1: 0.3, 2: 0.5}), 1: dict(A={1: 0.1, 2: 0.4}, B={1: 0.2, 2: 0.6})}
    seconds = {0: dict(A={1: 10.0, 2: 10.0}, B={1: 30.0, 2: 30.0}), 1: dict(A={1: 20.0, 2: 20.0}, B={1: 10.0, 2: 50.0})}
    s = seed_summary(per_seed, seconds)
    assert s['train_seconds'] == dict(A=30.0, B=60.0)  # means of 20 and 40, of 60 and 60
    # A's final mean 0.3: B's mean 0.25 at epoch 1 is below, 0.55 at epoch 2 reaches it -> B's whole run, 60 s
    assert s['b_reaches_a_final'] == 2 and s['b_seconds_to_a_final'] == 60.0
    assert s['b_to_a_final_time_ratio'] == 2.0
    assert s['a_reaches_b_final'] is None and s['a_seconds_to_b_final'] is None
    per_seed[1]['B'][1] = 0.4  # B's epoch-1 mean 0.35 now reaches 0.3: half of B's time, 20 s
    s = seed_summary(per_seed, seconds)
    assert s['b_reaches_a_final'] == 1 and s['b_seconds_to_a_final'] == 20.0
    assert abs(s['b_to_a_final_time_ratio'] - 20.0 / 30.0) < 1e-9
    del seconds[1]['A'][2]  # a run without the time of an epoch: no time summary rather than a wrong one
    assert 'train_seconds' not in seed_summary(per_seed, seconds)


def test_convergence_seeds_summarises_finished_runs(tmp_path):
    """--seeds with --resume-existing on finished runs: nothing is trained, the table, plot and JSON summarise them."""
    wd = tmp_path / 'wd'
    a_stem = osp.splitext(osp.basename(TINY_CONFIG))[0]
    b_stem = osp.splitext(osp.basename(TINY_DETR))[0]
    for seed, (a, b) in {0: ([0.1, 0.2], [0.0, 0.05]), 1: ([0.15, 0.3], [0.01, 0.02])}.items():
        for tag, stem, vals in (('a', a_stem, a), ('b', b_stem, b)):
            vis = wd / f'seed{seed}' / f'{tag}_{stem}' / '20261203_000000' / 'vis_data'
            vis.mkdir(parents=True)
            train = [dict(loss=1.0, epoch=e, iter=2 * e, time=1.0 + seed, step=2 * e) for e in (1, 2)]
            rows = train + [{'coco/bbox_mAP': v, 'step': e} for e, v in enumerate(vals, 1)]
            (vis / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in rows) + '\n')
    png, js = tmp_path / 'seeds.png', tmp_path / 'seeds.json'
    proc = run_cmd([PY, 'tools/benchmark.py', 'convergence', TINY_CONFIG, TINY_DETR, '--epochs', '2', '--seeds', '0',
                    '1', '--work-dir', str(wd), '--out', str(png), '--json', str(js), '--resume-existing'], env=ENV)
    assert_ok(proc)
    assert 'train.py' not in proc.stderr and proc.stderr.count('reusing the finished run') == 4
    assert '| 2 | 0.2500 [0.2000, 0.3000] | 0.0350 [0.0200, 0.0500] |' in proc.stdout
    assert "epoch 2: A > B; A reaches B's final mean at epoch 1" in proc.stdout
    # seed 0: 1 s x 2 iterations per epoch, seed 1: 2 s: both sides train 6 s on average; A reaches B's final in epoch 1
    assert "mean training time: A 6 s, B 6 s; B reaches A's final mean not within the run" in proc.stdout
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    res = json.loads(js.read_text())
    assert res['summary']['direction'] == 'A > B' and sorted(res['runs']) == ['0', '1']
    assert res['runs']['1']['A']['values'] == {'1': 0.15, '2': 0.3}
    assert res['summary']['train_seconds'] == dict(A=6.0, B=6.0) and res['summary']['a_seconds_to_b_final'] == 3.0


def test_forwarded_argv_and_step_memory():
    import argparse
    from tools.bench._common import forwarded_argv, step_memory
    args = argparse.Namespace(command='hungarian', memory_worker='ours', batch=2, vary_gts=False, fresh_allocator=True,
                              seeds=[0, 1], metric=None, weights='w.pth')
    assert forwarded_argv(args, skip=('weights', )) == ['--batch', '2', '--fresh-allocator', '--seeds', '0', '1']
    held = []
    mem = step_memory(lambda: held.append(bytearray(64 << 20)), steps=1)  # 64 MiB, touched: resident
    assert mem['steps_mib'] >= 60 and mem['peak_mib'] >= mem['rss_before_mib'] + 60
    assert step_memory(lambda: None, steps=2)['steps_mib'] < 30


@pytest.mark.parametrize('command', ['hungarian', 'group-hungarian'])
def test_assignment_benchmarks_report_peak_memory_of_both(command):
    proc = run_cmd([PY, 'tools/benchmark.py', command, '--batch', '2', '--queries', '30', '--gts', '5', '--repeats',
                    '1', '--warmup', '0', '--threads', '1', '--mem-steps', '1'], env=ENV)
    assert_ok(proc)
    assert '| growth during the assignments |' in proc.stdout and '| process peak |' in proc.stdout
    ratio = [line for line in proc.stdout.splitlines() if line.startswith('memory_ratio=')]
    assert len(ratio) == 1 and float(ratio[0].split('=')[1]) > 0
    assert proc.stdout.strip().splitlines()[-1].startswith('ratio=')


def test_record_writes_config_seed_epochs_times_and_test_metrics_per_class(tmp_path):
    run = tmp_path / 'run'
    vis = run / '20261203_000000' / 'vis_data'
    vis.mkdir(parents=True)
    rows = [dict(loss=1.0, epoch=1, iter=2, time=2.0, step=2), dict(loss=1.4, epoch=1, iter=4, time=2.0, step=4),
            dict(loss=0.8, epoch=2, iter=8, time=3.0, step=8),
            {'pascal_voc/mAP': 0.1, 'step': 1}, {'pascal_voc/mAP': 0.3, 'step': 2}]
    (vis / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in rows) + '\n')
    (run / 'my_config.py').write_text("randomness = dict(seed=7)\n")
    log = tmp_path / 'test.log'
    log.write_text('\n'.join([
        'INFO - ', '+-----------+-----+------+--------+-------+', '| class     | gts | dets | recall | ap    |',
        '+-----------+-----+------+--------+-------+', '| RBC       | 805 | 7200 | 0.835  | 0.093 |',
        '| WBC       | 71  | 0    | 0.000  | 0.000 |', '+-----------+-----+------+--------+-------+',
        '| mAP       |     |      |        | 0.047 |', '+-----------+-----+------+--------+-------+',
        'INFO - Epoch(test) [72/72]    pascal_voc/mAP: 0.0465  pascal_voc/AP50: 0.0470  time: 0.3687', '']))
    out = tmp_path / 'res.json'
    proc = run_cmd([PY, 'tools/benchmark.py', 'record', str(run), '--out', str(out), '--test-log', str(log),
                    '--command', 'the command'], env=ENV)
    assert_ok(proc)
    res = json.loads(out.read_text())
    assert res['config'] == 'my_config.py' and res['seed'] == 7 and res['command'] == 'the command'
    assert res['val_per_epoch'] == {'1': {'pascal_voc/mAP': 0.1}, '2': {'pascal_voc/mAP': 0.3}}
    assert res['train_seconds_per_epoch'] == {'1': 8.0, '2': 12.0}  # 2 s x 4 iterations, 3 s x 4
    assert res['train_loss_per_epoch'] == {'1': 1.2, '2': 0.8}
    assert res['test']['pascal_voc/mAP'] == 0.0465
    assert res['test_per_class'] == {'RBC': dict(gts=805.0, dets=7200.0, recall=0.835, ap=0.093),
                                     'WBC': dict(gts=71.0, dets=0.0, recall=0.0, ap=0.0)}


def _record(path, config, seed, values, test=None, seconds=10.0):
    rec = dict(config=config, seed=seed, command='python tools/train.py ...', git_commit='x',
               val_per_epoch={str(e): {'pascal_voc/mAP': v, 'pascal_voc/AP50': v} for e, v in values.items()},
               train_seconds_per_epoch={str(e): seconds for e in values})
    if test is not None:
        rec['test'] = {'pascal_voc/mAP': test}
    path.write_text(json.dumps(rec))
    return str(path)


def test_summarize_pairs_records_by_seed_like_convergence_seeds(tmp_path):
    """The summary of record files equals seed_summary of the same curves; test metrics are reported per side."""
    from tools.bench.convergence import seed_summary
    curves = {0: dict(A={1: 0.1, 2: 0.2}, B={1: 0.3, 2: 0.5}), 1: dict(A={1: 0.1, 2: 0.4}, B={1: 0.2, 2: 0.6})}
    tests = {0: dict(A=0.25, B=0.55), 1: dict(A=0.35, B=0.65)}
    files = {t: [_record(tmp_path / f'{t}{s}.json', f'{t.lower()}_cfg.py', s, curves[s][t], tests[s][t],
                         seconds=10.0 if t == 'A' else 20.0) for s in (1, 0)] for t in 'AB'}  # any file order
    png, js = tmp_path / 'p.png', tmp_path / 's.json'
    proc = run_cmd([PY, 'tools/benchmark.py', 'summarize', '--a', *files['A'], '--b', *files['B'],
                    '--out', str(png), '--json', str(js)], env=ENV)
    assert_ok(proc)
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    res = json.loads(js.read_text())
    expected = seed_summary(curves, {s: dict(A={1: 10.0, 2: 10.0}, B={1: 20.0, 2: 20.0}) for s in (0, 1)})
    assert res['metric'] == 'pascal_voc/mAP' and res['summary']['direction'] == expected['direction'] == 'B > A'
    assert res['summary']['final'] == expected['final']
    assert res['summary']['train_seconds'] == expected['train_seconds'] == dict(A=20.0, B=40.0)
    assert res['runs']['1']['A'] == dict(config='a_cfg.py', record=files['A'][0], values={'1': 0.1, '2': 0.4})
    assert 'test pascal_voc/mAP A: 0.3000 [0.2500, 0.3500]' in proc.stdout
    assert 'test pascal_voc/mAP B: 0.6000 [0.5500, 0.6500]' in proc.stdout

    # --epochs cuts the curves
    proc = run_cmd([PY, 'tools/benchmark.py', 'summarize', '--a', *files['A'], '--b', *files['B'], '--epochs', '1',
                    '--out', str(png), '--json', str(js)], env=ENV)
    assert_ok(proc)
    assert json.loads(js.read_text())['summary']['last_epoch'] == 1


def test_summarize_refuses_unpaired_seeds_and_foreign_files_naming_them(tmp_path):
    a0 = _record(tmp_path / 'a0.json', 'a.py', 0, {1: 0.1})
    a0_again = _record(tmp_path / 'a0b.json', 'a.py', 0, {1: 0.2})
    b1 = _record(tmp_path / 'b1.json', 'b.py', 1, {1: 0.1})
    other = tmp_path / 'summary.json'
    other.write_text(json.dumps({'metric': 'x', 'summary': {}}))
    cases = [(['--a', a0, '--b', b1], 'different seeds: A [0], B [1]'),
             (['--a', a0, a0_again, '--b', b1], f'seed 0 twice ({a0} and {a0_again})'),
             (['--a', str(other), '--b', b1], f'{other} is not a record file'),
             (['--a', str(tmp_path / 'missing.json'), '--b', b1], 'cannot read'),
             (['--a', _record(tmp_path / 'pre.json', 'p.py', 0, {}), '--b', b1], 'pre.json has no validation epochs'),
             (['--a', a0, '--b', _record(tmp_path / 'b0.json', 'b.py', 0, {1: 0.1}), '--metric', 'coco/bbox_mAP'],
              'no validation metric coco/bbox_mAP')]
    for args, message in cases:
        proc = run_cmd([PY, 'tools/benchmark.py', 'summarize', *args, '--out', str(tmp_path / 'p.png')], env=ENV)
        assert proc.returncode != 0 and message in proc.stderr, (args, proc.stderr[-500:])
