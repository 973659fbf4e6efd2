"""Validation metric per epoch of two configs trained with the same seed on the same data: a plot and a table.

Each config is trained by ``tools/train.py`` in its own subprocess, one after the other (so each run is a
normal MMEngine run with its logs and checkpoints in ``<work-dir>/a_<config>`` and ``<work-dir>/b_<config>``),
with ``train_cfg.max_epochs=--epochs``, ``train_cfg.val_interval=1`` and ``randomness.seed=--seed``. The
metric of every epoch is read from the runs' ``<timestamp>/vis_data/scalars.json``: ``coco/bbox_mAP`` or
``pascal_voc/mAP`` (whichever the runs logged), or ``--metric KEY``. The PNG (``--out``) shows the metric
against the epoch for both; stdout gets a markdown table with one row per epoch.

``--seeds S1 S2 ...`` trains the pair once per seed (in ``<work-dir>/seed<S>/``) and reports, per epoch, the mean and
min-max over seeds of each side, the direction of the last epoch's gap only where it exceeds the seed spread, and
the epoch at which A's mean first reaches B's final mean (e.g. DETR vs Conditional DETR's convergence claim).

``--resume-existing`` reuses the runs already in the work folders: a run that has the metric of every epoch
is not trained again, a run with checkpoints continues from its latest one (``tools/train.py --resume``).
Without it every run starts from scratch.

Example::

    python tools/benchmark.py convergence configs/detr/detr_r18_1xb2-12e_bccd.py \\
        configs/conditional_detr/conditional-detr_r18_1xb2-12e_bccd.py --epochs 12 \\
        --cfg-options $(cat scripts/scratch_backbone.txt) --work-dir work_dirs/convergence_bccd
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

from ._common import load_any_config, resolve_any_config

TOOLS_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
KNOWN_METRICS = ('coco/bbox_mAP', 'pascal_voc/mAP')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config_a', help='config A: path, our config name, or mmdet::<dir>/<file>.py')
    parser.add_argument('config_b', help='config B')
    parser.add_argument('--epochs', type=int, required=True, help='training epochs of each run')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='overrides for both runs (passed to tools/train.py)')
    parser.add_argument('--cfg-options-a', nargs='+', default=[], metavar='KEY=VALUE', help='overrides for A only')
    parser.add_argument('--cfg-options-b', nargs='+', default=[], metavar='KEY=VALUE', help='overrides for B only')
    parser.add_argument('--work-dir', default='work_dirs/convergence', help='folder of the two runs')
    parser.add_argument('--out', help='PNG plot (default: <work-dir>/convergence.png)')
    parser.add_argument('--json', help='write the per-epoch values to this json file')
    parser.add_argument('--metric', help=f'scalar to compare (default: the first of {", ".join(KNOWN_METRICS)} '
                        'that the runs logged)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--seeds', type=int, nargs='+', metavar='SEED',
                        help='train both configs once per seed (runs in <work-dir>/seed<SEED>/) and report the mean '
                        'and min-max of every epoch, the direction of the final gap against the seed spread and '
                        'the epoch at which A first reaches B\'s final value')
    parser.add_argument('--no-pretrained', action='store_true',
                        help='set every init_cfg that loads a checkpoint to None (offline machines)')
    parser.add_argument('--resume-existing', action='store_true',
                        help='reuse finished runs in the work folders and resume unfinished ones')


def progress(msg: str) -> None:
    print(f'[convergence] {msg}', file=sys.stderr, flush=True)


def scalar_files(work_dir: str) -> List[str]:
    """``<work_dir>/<timestamp>/vis_data/scalars.json`` files, oldest run first."""
    return sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))


def read_val_rows(files: List[str]) -> List[dict]:
    """The validation rows (those without a training ``loss``) of the given scalars files, in order."""
    rows = []
    for path in files:
        with open(path) as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    if 'loss' not in row and 'step' in row:
                        rows.append(row)
    return rows


def detect_metric(rows: List[dict], wanted: Optional[str]) -> str:
    """``wanted`` if given, else the first known mAP key that ``rows`` have; clear error otherwise."""
    keys = sorted({k for r in rows for k in r if k not in ('step', 'time', 'data_time')})
    if wanted:
        if wanted not in keys:
            raise KeyError(f'metric {wanted!r} was not logged; the validation scalars are: {keys}')
        return wanted
    for key in KNOWN_METRICS:
        if key in keys:
            return key
    raise KeyError(f'no {" or ".join(KNOWN_METRICS)} in the validation scalars ({keys}); pass --metric KEY')


def per_epoch(rows: List[dict], metric: str) -> Dict[int, float]:
    """epoch -> metric; a later row of the same epoch (a resumed run) replaces an earlier one."""
    return {int(r['step']): float(r[metric]) for r in rows if metric in r}


def run_training(config_path: str, work_dir: str, options: List[str], resume: bool, log_file: str, tag: str) -> None:
    """Trains one config with tools/train.py; echoes the validation lines; raises on failure."""
    cmd = [sys.executable, osp.join(TOOLS_DIR, 'train.py'), config_path, '--work-dir', work_dir]
    if resume:
        cmd.append('--resume')
    cmd += ['--cfg-options'] + options
    progress(f'{tag}: {" ".join(cmd)}  (log: {log_file})')
    t0 = time.time()
    with open(log_file, 'a') as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        seen = 0
        while proc.poll() is None:
            time.sleep(2)
            seen = _echo_val_lines(log_file, seen, tag)
        _echo_val_lines(log_file, seen, tag)
    if proc.returncode != 0:
        with open(log_file) as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f'training {tag} failed (exit {proc.returncode}); log {log_file}:\n{tail}')
    progress(f'{tag}: done in {time.time() - t0:.0f} s')


def _echo_val_lines(log_file: str, seen: int, tag: str) -> int:
    with open(log_file, errors='replace') as f:
        lines = f.readlines()
    for line in lines[seen:]:
        if 'Epoch(val)' in line and 'eta:' not in line:  # the summary line of each validation
            progress(f'{tag}: {line[line.index("Epoch(val)"):].strip()[:200]}')
    return len(lines)


def _axes():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt.subplots(figsize=(6, 4), dpi=120)


def _save(fig, ax, metric: str, title: str, out: str) -> None:
    import matplotlib.pyplot as plt
    ax.set_xlabel('epoch')
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def plot(curves: Dict[str, Dict[int, float]], metric: str, out: str, title: str) -> None:
    """The metric against the epoch, one line per run."""
    fig, ax = _axes()
    for label, values in curves.items():
        epochs = sorted(values)
        ax.plot(epochs, [values[e] for e in epochs], marker='o', label=label)
    _save(fig, ax, metric, title, out)


Curves = Dict[str, Dict[int, float]]  # tag ('A' / 'B') -> epoch -> metric


def train_pair(args: argparse.Namespace, seed: int, work_dir: str) -> Tuple[Dict[str, dict], Curves, str]:
    """Trains (or reuses, with ``--resume-existing``) configs A and B with ``seed`` under ``work_dir``.

    Returns:
        tuple: the runs (config, label, options, work_dir per tag), their curves (tag -> epoch -> metric) and the
        metric name.
    """
    runs = {}
    for tag, config, extra in (('A', args.config_a, args.cfg_options_a), ('B', args.config_b, args.cfg_options_b)):
        try:
            path = resolve_any_config(config)
        except FileNotFoundError as e:
            sys.exit(f'error: {e}')
        stem = osp.splitext(osp.basename(path))[0]
        options = [f'train_cfg.max_epochs={args.epochs}', 'train_cfg.val_interval=1',
                   f'randomness.seed={seed}'] + list(args.cfg_options) + list(extra)
        if '::' in config:
            options.append(f'default_scope={config.partition("::")[0]}')
        if args.no_pretrained:
            from mmdet_detrx.utils.model_build import pretrained_init_keys
            cfg = load_any_config(config)
            options += [f'{k}=None' for k in pretrained_init_keys(cfg.model)]
        runs[tag] = dict(config=config, path=path, label=f'{tag}: {stem}', options=options,
                         work_dir=osp.join(work_dir, f'{tag.lower()}_{stem}'))

    metric = args.metric
    for tag, run in runs.items():
        wd = run['work_dir']
        os.makedirs(wd, exist_ok=True)
        before = scalar_files(wd)
        log_file = osp.join(work_dir, f'{tag.lower()}.log')
        if args.resume_existing and before:
            rows = read_val_rows(before)
            done = per_epoch(rows, detect_metric(rows, metric)) if rows and _has_metric(rows, metric) else {}
            if all(e in done for e in range(1, args.epochs + 1)):
                progress(f'{tag}: reusing the finished run in {wd}')
                continue
            has_ckpt = bool(glob.glob(osp.join(wd, 'epoch_*.pth')))
            run_training(run['path'], wd, run['options'], has_ckpt, log_file, tag)
        else:
            run_training(run['path'], wd, run['options'], False, log_file, tag)
            run['files'] = [f for f in scalar_files(wd) if f not in before]
    curves = {}
    for tag, run in runs.items():
        files = run.get('files') or scalar_files(run['work_dir'])
        rows = read_val_rows(files)
        if not rows:
            sys.exit(f'error: run {tag} logged no validation scalars under {run["work_dir"]}')
        metric = detect_metric(rows, metric)
        values = per_epoch(rows, metric)
        curves[tag] = {e: v for e, v in values.items() if e <= args.epochs}
    return runs, curves, metric


def main(args: argparse.Namespace) -> None:
    if args.epochs < 1:
        sys.exit('error: --epochs must be at least 1')
    if args.seeds:
        return main_seeds(args)
    runs, curves, metric = train_pair(args, args.seed, args.work_dir)
    out = args.out or osp.join(args.work_dir, 'convergence.png')
    title = f'{runs["A"]["label"]} vs {runs["B"]["label"]} (seed {args.seed})'
    plot({runs[t]['label']: curves[t] for t in runs}, metric, out, title)
    progress(f'wrote {out}')

    epochs = sorted(set(curves['A']) | set(curves['B']))
    print(f'A = {runs["A"]["config"]}\nB = {runs["B"]["config"]}\n')
    print(f'| epoch | A {metric} | B {metric} |')
    print('|---|---|---|')
    for e in epochs:
        cells = [f'{curves[t][e]:.4f}' if e in curves[t] else '-' for t in 'AB']
        print(f'| {e} | {cells[0]} | {cells[1]} |')
    if args.json:
        res = dict(metric=metric, epochs=args.epochs, seed=args.seed, plot=out,
                   runs={t: dict(config=r['config'], work_dir=r['work_dir'], cfg_options=r['options'],
                                 values={str(e): v for e, v in sorted(curves[t].items())}) for t, r in runs.items()})
        _write_json(args.json, res)


def train_rows(files: List[str]) -> List[dict]:
    """The training rows (those with a ``loss``) of MMEngine ``scalars.json`` files."""
    rows = []
    for path in files:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip() and '"loss"' in line]
    return rows


def epoch_seconds(rows: List[dict]) -> Dict[int, float]:
    """epoch -> seconds: mean logged iteration time x the epoch's iterations (the largest logged ``iter``)."""
    times, last_iter = defaultdict(list), {}
    for row in rows:
        epoch = int(row['epoch'])
        times[epoch].append(float(row['time']))
        last_iter[epoch] = max(last_iter.get(epoch, 0), int(row['iter']))
    out, previous_end = {}, 0
    for epoch in sorted(times):
        n = last_iter[epoch] - previous_end
        previous_end = last_iter[epoch]
        out[epoch] = round(sum(times[epoch]) / len(times[epoch]) * n, 1)
    return out


def spread(values: List[float]) -> Dict[str, float]:
    """Mean, min and max of one metric over seeds."""
    return dict(mean=sum(values) / len(values), min=min(values), max=max(values))


def seed_summary(per_seed: Dict[int, Curves], seconds: Optional[Dict[int, Curves]] = None) -> dict:
    """Mean and min-max over seeds of every epoch both sides logged in every seed, and what they say.

    Args:
        per_seed: seed -> tag ('A' / 'B') -> epoch -> metric.
        seconds: seed -> tag -> epoch -> training seconds of that epoch (:func:`epoch_seconds`); with it, the
            summary also has ``train_seconds`` (tag -> mean over seeds of the run's total) and the mean training
            time each side takes to reach the other's final mean (``b_seconds_to_a_final``,
            ``a_seconds_to_b_final``) with its ratio to the other side's whole run (``b_to_a_final_time_ratio``,
            ``a_to_b_final_time_ratio``): the paper's "wall time to reach the baseline's final accuracy".

    Returns:
        dict: ``epochs`` (tag -> epoch -> {mean, min, max}), ``final`` (the last common epoch's stats per tag),
        ``direction`` ('B > A', 'A > B': the worse side's max is below the better side's min at the last epoch;
        else 'within the seed spread'), ``a_reaches_b_final`` (first epoch at which A's mean reaches B's final
        mean, or None: not within the run) and ``b_reaches_a_final`` (the same the other way).
    """
    seeds = sorted(per_seed)
    if not seeds:
        raise ValueError('no seeds to summarise')
    epochs = sorted(set.intersection(*(set(per_seed[s][t]) for s in seeds for t in 'AB')))
    if not epochs:
        raise ValueError('the runs share no epoch with a metric')
    stats = {t: {} for t in 'AB'}
    for t in 'AB':
        for e in epochs:
            vals = [per_seed[s][t][e] for s in seeds]
            stats[t][e] = spread(vals)
    last = epochs[-1]
    fa, fb = stats['A'][last], stats['B'][last]
    if fb['min'] > fa['max']:
        direction = 'B > A'
    elif fa['min'] > fb['max']:
        direction = 'A > B'
    else:
        direction = 'within the seed spread'

    def first_reach(tag, target):
        return next((e for e in epochs if stats[tag][e]['mean'] >= target), None)

    res = dict(seeds=seeds, epochs=stats, last_epoch=last, final=dict(A=fa, B=fb), direction=direction,
               a_reaches_b_final=first_reach('A', fb['mean']), b_reaches_a_final=first_reach('B', fa['mean']))
    if seconds and all(e in seconds.get(s, {}).get(t, {}) for s in seeds for t in 'AB' for e in epochs):
        def mean_seconds(tag, upto):
            return sum(sum(seconds[s][tag][e] for e in epochs if e <= upto) for s in seeds) / len(seeds)

        total = {t: mean_seconds(t, last) for t in 'AB'}
        res['train_seconds'] = total
        for tag, other in (('b', 'a'), ('a', 'b')):
            reach = res[f'{tag}_reaches_{other}_final']
            took = mean_seconds(tag.upper(), reach) if reach is not None else None
            res[f'{tag}_seconds_to_{other}_final'] = took
            res[f'{tag}_to_{other}_final_time_ratio'] = took / total[other.upper()] if took is not None else None
    return res


def main_seeds(args: argparse.Namespace) -> None:
    """``--seeds``: one pair of runs per seed, then :func:`seed_summary` as a table, a plot and JSON."""
    per_seed, runs_by_seed, metric, labels = {}, {}, None, None
    seconds = {}
    for seed in args.seeds:
        runs, curves, metric = train_pair(args, seed, osp.join(args.work_dir, f'seed{seed}'))
        per_seed[seed], runs_by_seed[seed] = curves, runs
        seconds[seed] = {t: epoch_seconds(train_rows(scalar_files(r['work_dir']))) for t, r in runs.items()}
        labels = {t: r['label'] for t, r in runs.items()}
    runs = {seed: {t: dict(config=r['config'], work_dir=r['work_dir'], cfg_options=r['options'])
                   for t, r in runs_by_seed[seed].items()} for seed in per_seed}
    report_seeds(per_seed, seconds, labels, dict(A=args.config_a, B=args.config_b), metric, runs,
                 args.out or osp.join(args.work_dir, 'convergence.png'), args.json, args.epochs)


def report_seeds(per_seed: Dict[int, Curves], seconds: Optional[Dict[int, Curves]], labels: Dict[str, str],
                 names: Dict[str, str], metric: str, runs: Dict[int, Dict[str, dict]], out: str,
                 json_path: Optional[str], epochs: int) -> dict:
    """:func:`seed_summary` of the curves as a plot (``out``), a markdown table on stdout and, with ``json_path``,
    a JSON file (metric, summary, and per seed and side what ``runs`` says plus the curve).

    Args:
        per_seed: seed -> tag -> epoch -> metric. seconds: seed -> tag -> epoch -> training seconds, or None.
        labels: tag -> plot label. names: tag -> what the side is (config), printed above the table.
        runs: seed -> tag -> what to record about that run (config, work_dir or record file, options).
    """
    summary = seed_summary(per_seed, seconds)
    plot_seeds(summary, labels, metric, out,
               f'{labels["A"]} vs {labels["B"]} (seeds {", ".join(map(str, summary["seeds"]))})')
    progress(f'wrote {out}')
    print(f'A = {names["A"]}\nB = {names["B"]}\nseeds = {summary["seeds"]}\n')
    print(f'| epoch | A {metric} mean [min, max] | B {metric} mean [min, max] |')
    print('|---|---|---|')
    for e in sorted(summary['epochs']['A']):
        cells = [_stat_cell(summary['epochs'][t][e]) for t in 'AB']
        print(f'| {e} | {cells[0]} | {cells[1]} |')
    reach = summary['a_reaches_b_final']
    print(f'\nepoch {summary["last_epoch"]}: {summary["direction"]}; A reaches B\'s final mean '
          + (f'at epoch {reach}' if reach else 'not within the run'))
    if 'train_seconds' in summary:
        took, ratio = summary['b_seconds_to_a_final'], summary['b_to_a_final_time_ratio']
        print(f'mean training time: A {summary["train_seconds"]["A"]:.0f} s, B {summary["train_seconds"]["B"]:.0f} s; '
              'B reaches A\'s final mean ' + (f'after {took:.0f} s = {ratio:.2f} x A\'s run' if took is not None
                                              else 'not within the run'))
    if json_path:
        res = dict(metric=metric, epochs=epochs, plot=out,
                   summary=dict(summary, epochs={t: {str(e): v for e, v in summary['epochs'][t].items()}
                                                 for t in 'AB'}),
                   runs={str(seed): {t: dict(runs[seed][t], values={str(e): v for e, v in sorted(
                       per_seed[seed][t].items())}) for t in 'AB'} for seed in summary['seeds']})
        _write_json(json_path, res)
    return summary


def _stat_cell(stat: dict) -> str:
    return f'{stat["mean"]:.4f} [{stat["min"]:.4f}, {stat["max"]:.4f}]'


def plot_seeds(summary: dict, labels: Dict[str, str], metric: str, out: str, title: str) -> None:
    """Mean over seeds per epoch with the min-max band of each side."""
    fig, ax = _axes()
    for tag in 'AB':
        stats = summary['epochs'][tag]
        epochs = sorted(stats)
        ax.plot(epochs, [stats[e]['mean'] for e in epochs], marker='o', label=f'{labels[tag]} (mean)')
        ax.fill_between(epochs, [stats[e]['min'] for e in epochs], [stats[e]['max'] for e in epochs], alpha=0.2)
    _save(fig, ax, metric, title, out)


def _write_json(path: str, res: dict) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(res, f, indent=2)
    progress(f'wrote {path}')


def _has_metric(rows: List[dict], metric: Optional[str]) -> bool:
    try:
        detect_metric(rows, metric)
        return True
    except KeyError:
        return False
