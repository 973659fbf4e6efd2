"""Shared test helpers (importable as ``tests.helpers`` or ``helpers``)."""
import glob
import json
import math
import os.path as osp
from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Runs the block on ``threads`` intra-op threads (``torch.set_num_threads``), then restores the previous number."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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


RESIZES = {'Resize': 'scale', 'RandomResize': 'scale', 'RandomChoiceResize': 'scales'}


def _small_images(node, size=(160, 128)):
    """Every resize of the pipeline made small (a CPU-cheap step)."""
    if isinstance(node, dict):
        key = RESIZES.get(node.get('type'))
        if key == 'scales':
            node[key] = [size]
        elif key:
            node[key] = size
        for value in node.values():
            _small_images(value, size)
    elif isinstance(node, list):
        for value in node:
            _small_images(value, size)


def train_batch(cfg):
    """The first batch (2 images, resized small) of ``cfg``'s own training pipeline, as the runner collates it."""
    from mmengine.runner import Runner

    from mmdet_detrx.utils.smoke import SMOKE_SAMPLES, shrink_datasets

    import random

    import numpy as np
    np.random.seed(0)  # the pipelines' random augmentations draw from numpy / random: same batch in every run
    random.seed(0)
    loader_cfg = cfg.train_dataloader.copy()
    shrink_datasets(loader_cfg.dataset)
    _small_images(loader_cfg.dataset)
    loader_cfg.update(num_workers=0, persistent_workers=False, batch_size=SMOKE_SAMPLES)
    loader_cfg.pop('batch_sampler', None)
    return next(iter(Runner.build_dataloader(loader_cfg, seed=0)))




def redrawn_state(config: str) -> dict:
    """The state dict of ``config``'s model (no pre-trained weights) with every parameter redrawn from N(0, 1), a
    stand-in for a trained checkpoint; tied parameters stay tied. Seeded: the same dict every call."""
    import torch

    from mmdet_detrx.utils.model_build import build_detector
    torch.manual_seed(0)
    _, model = build_detector(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    return {k: v.clone() for k, v in model.state_dict().items()}
