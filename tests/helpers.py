"""Shared test helpers (importable as ``tests.helpers`` or ``helpers``)."""
import glob
import json
import math
import os.path as osp


def read_scalars(work_dir: str) -> list:
    """The json lines mmengine's LocalVisBackend wrote for the (single) run in ``work_dir``."""
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    assert files, f'no scalars.json under {work_dir}'
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def train_losses(work_dir: str) -> list:
    rows = [r for r in read_scalars(work_dir) if 'loss' in r]
    assert rows, f'no training loss logged under {work_dir}'
    losses = [r['loss'] for r in rows]
    assert all(math.isfinite(v) for v in losses), losses
    return losses
