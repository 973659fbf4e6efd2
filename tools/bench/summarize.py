"""Seed summary of two sides from recorded runs: the plot, table and JSON of ``convergence --seeds``, from files.

    python tools/benchmark.py summarize --a A_seed0.json A_seed1.json A_seed2.json \\
        --b B_seed0.json B_seed1.json B_seed2.json --json docs/results/<claim>/summary.json --out <plot>.png

The inputs are ``record`` JSONs (one per run: its seed, validation metrics per epoch, training seconds per epoch,
test metrics). Use it where the two sides were not trained as one ``convergence --seeds`` call: a side shared with
another comparison (the same baseline runs), runs trained elsewhere, or run folders no longer on the disk. The
runs are paired by the seed each record holds; both sides must have the same seeds, each once. ``--epochs`` cuts
the curves (default: the last epoch every run logged). Also prints each side's test metric, mean [min, max].
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List

from .convergence import KNOWN_METRICS, _stat_cell, report_seeds, spread


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--a', nargs='+', required=True, metavar='RECORD', help='record JSONs of side A')
    parser.add_argument('--b', nargs='+', required=True, metavar='RECORD', help='record JSONs of side B')
    parser.add_argument('--label-a', help='plot label of A (default: "A: <config>")')
    parser.add_argument('--label-b', help='plot label of B')
    parser.add_argument('--metric', help=f'validation scalar (default: the first of {", ".join(KNOWN_METRICS)} '
                        'that the records hold)')
    parser.add_argument('--epochs', type=int, help='last epoch to compare (default: every common epoch)')
    parser.add_argument('--out', required=True, help='PNG plot')
    parser.add_argument('--json', help='summary JSON to write')


def load_records(paths: List[str], side: str) -> Dict[int, dict]:
    """seed -> record (with its path under ``_path``); exits with a message naming the file on bad input."""
    records = {}
    for path in paths:
        try:
            with open(path) as f:
                rec = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            sys.exit(f'error: side {side}: cannot read {path}: {e}')
        missing = [k for k in ('seed', 'val_per_epoch', 'config') if k not in rec]
        if missing:
            sys.exit(f'error: side {side}: {path} is not a record file (no {", ".join(missing)}; '
                     'write one with `tools/benchmark.py record`)')
        if not rec['val_per_epoch']:
            sys.exit(f'error: side {side}: {path} has no validation epochs (a run without validation, e.g. a '
                     'pre-training)')
        if rec['seed'] in records:
            sys.exit(f'error: side {side}: seed {rec["seed"]} twice ({records[rec["seed"]]["_path"]} and {path})')
        records[rec['seed']] = dict(rec, _path=path)
    return records


def pick_metric(records: List[dict], wanted: str = None) -> str:
    keys = set.intersection(*(set(row) for rec in records for row in rec['val_per_epoch'].values()))
    for metric in ([wanted] if wanted else KNOWN_METRICS):
        if metric in keys:
            return metric
    sys.exit(f'error: no validation metric {wanted or " / ".join(KNOWN_METRICS)} in every epoch of every record; '
             f'common keys: {sorted(keys)}')


def main(args: argparse.Namespace) -> None:
    sides = {'A': load_records(args.a, 'A'), 'B': load_records(args.b, 'B')}
    if set(sides['A']) != set(sides['B']):
        sys.exit(f'error: the sides have different seeds: A {sorted(sides["A"])}, B {sorted(sides["B"])}')
    metric = pick_metric([rec for side in sides.values() for rec in side.values()], args.metric)
    keep = (lambda e: e <= args.epochs) if args.epochs else (lambda e: True)
    per_seed = {s: {t: {int(e): float(row[metric]) for e, row in sides[t][s]['val_per_epoch'].items()
                        if keep(int(e))} for t in 'AB'} for s in sides['A']}
    seconds = {s: {t: {int(e): float(v) for e, v in sides[t][s].get('train_seconds_per_epoch', {}).items()}
                   for t in 'AB'} for s in sides['A']}
    names = {t: next(iter(sides[t].values()))['config'] for t in 'AB'}
    labels = {'A': args.label_a or f'A: {osp.splitext(names["A"])[0]}',
              'B': args.label_b or f'B: {osp.splitext(names["B"])[0]}'}
    runs = {s: {t: dict(config=sides[t][s]['config'], record=sides[t][s]['_path']) for t in 'AB'}
            for s in per_seed}
    last = args.epochs or max(e for s in per_seed for t in 'AB' for e in per_seed[s][t])
    try:
        report_seeds(per_seed, seconds, labels, names, metric, runs, args.out, args.json, last)
    except ValueError as e:
        sys.exit(f'error: {e}')
    for t in 'AB':
        tests = [sides[t][s].get('test', {}).get(metric) for s in sorted(sides[t])]
        if all(v is not None for v in tests):
            print(f'test {metric} {t}: {_stat_cell(spread(tests))} (per seed: {dict(zip(sorted(sides[t]), tests))})')
