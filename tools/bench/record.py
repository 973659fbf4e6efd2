"""Record a finished (or running) training run as one JSON file for docs/results/: what was run and what it gave.

    python tools/benchmark.py record WORK_DIR --out docs/results/NAME.json [--command "..."] [--test-log LOG]

The JSON holds the config file (the copy the runner dumped into WORK_DIR), the command (``--command``, else the
plain ``tools/train.py`` call), the git commit of the checkout, the seed, every validation row per epoch (all
logged metrics), the wall time of every training epoch (sum of the logged iteration times, scaled to the epoch's
iterations), the mean logged training loss of every epoch and, with ``--test-log``, the test metrics that log
ends with (``tools/test.py`` output) and its per-class table (``test_per_class``: gts, dets, recall, ap per class,
where the metric prints one). Every number in docs/benchmarks.md comes from such a file.
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import subprocess
from typing import Dict

from .convergence import epoch_seconds, read_val_rows, scalar_files, train_rows

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('work_dir', help='the run folder (tools/train.py --work-dir)')
    parser.add_argument('--out', required=True, help='JSON file to write')
    parser.add_argument('--command', dest='run_command',
                        help='the command that made the run (default: the plain tools/train.py call)')
    parser.add_argument('--test-log', help='a tools/test.py log whose final metrics go into "test"')


def test_metrics(log: str) -> Dict[str, float]:
    """The ``key: value`` pairs of the last ``Epoch(test)`` line of a tools/test.py log."""
    with open(log, errors='replace') as f:
        lines = [line for line in f if 'Epoch(test)' in line]
    if not lines:
        raise SystemExit(f'{log}: no Epoch(test) line (not a finished tools/test.py log)')
    return {k: float(v) for k, v in re.findall(r'([\w/.]+): (-?[0-9.]+(?:e-?\d+)?)', lines[-1].split(']', 2)[-1])}


def test_per_class(log: str) -> Dict[str, Dict[str, float]]:
    """class -> {gts, dets, recall, ap} from the last per-class table of a tools/test.py log (mmdet's VOCMetric
    prints one); empty when the log has none."""
    with open(log, errors='replace') as f:
        text = f.read()
    start = text.rfind('| class ')
    if start < 0:
        return {}
    lines = text[start:].splitlines()
    header = [c.strip() for c in lines[0].strip('|').split('|')]
    table = {}
    for line in lines[1:]:
        if not line.startswith('|'):
            if line.startswith('+'):
                continue
            break
        cells = [c.strip() for c in line.strip('|').split('|')]
        if cells[0] == 'mAP':
            break
        table[cells[0]] = {k: float(v) for k, v in zip(header[1:], cells[1:]) if v}
    return table


def epoch_losses(rows) -> Dict[int, float]:
    """epoch -> mean of the logged total ``loss`` values of that epoch (the logger's interval means)."""
    losses = {}
    for row in rows:
        losses.setdefault(int(row['epoch']), []).append(float(row['loss']))
    return {e: round(sum(v) / len(v), 4) for e, v in sorted(losses.items())}


def git_commit() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def main(args: argparse.Namespace) -> None:
    files = scalar_files(args.work_dir)
    if not files:
        raise SystemExit(f'{args.work_dir}: no <timestamp>/vis_data/scalars.json (not a training run folder)')
    configs = sorted(glob.glob(osp.join(args.work_dir, '*.py')))
    if not configs:
        raise SystemExit(f'{args.work_dir}: no dumped config (*.py)')
    with open(configs[0]) as f:
        config_text = f.read()
    seed = re.search(r"randomness = dict\(.*?seed=(\d+)", config_text, re.S)
    val = {int(r['step']): {k: v for k, v in r.items() if k not in ('step', 'time', 'data_time')}
           for r in read_val_rows(files)}
    record = dict(
        config=osp.basename(configs[0]),
        command=args.run_command or f'python tools/train.py {osp.basename(configs[0])} --work-dir {args.work_dir}',
        git_commit=git_commit(),
        seed=int(seed.group(1)) if seed else None,
        val_per_epoch={str(k): val[k] for k in sorted(val)},
        train_seconds_per_epoch={str(k): v for k, v in epoch_seconds(train_rows(files)).items()},
        train_loss_per_epoch={str(k): v for k, v in epoch_losses(train_rows(files)).items()},
        config_text=config_text,
    )
    if args.test_log:
        record['test'] = test_metrics(args.test_log)
        per_class = test_per_class(args.test_log)
        if per_class:
            record['test_per_class'] = per_class
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(record, f, indent=1)
    print(f'wrote {args.out}: {len(val)} validation epochs, {len(record["train_seconds_per_epoch"])} train epochs')
