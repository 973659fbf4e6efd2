"""Mixed precision: every shipped small config trains a step under bf16 autocast (CPU) with finite losses and
gradients. The batch comes from the config's own training pipeline (2 images, resized small)."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner

from mmdet_detrx.utils.model_build import build_detector
from mmdet_detrx.utils.smoke import SMOKE_SAMPLES, _shrink_dataset

from ..conftest import REPO

SMALL = sorted(p for p in glob.glob(osp.join(REPO, 'configs', '*', '*_1xb*.py')))
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
    loader_cfg = cfg.train_dataloader.copy()
    _shrink_dataset(loader_cfg.dataset)
    _small_images(loader_cfg.dataset)
    loader_cfg.update(num_workers=0, persistent_workers=False, batch_size=SMOKE_SAMPLES)
    loader_cfg.pop('batch_sampler', None)
    return next(iter(Runner.build_dataloader(loader_cfg, seed=0)))


@pytest.mark.parametrize('path', SMALL, ids=[osp.relpath(p, osp.join(REPO, 'configs')) for p in SMALL])
def test_bf16_autocast_training_step(path):
    torch.manual_seed(0)
    cfg, model = build_detector(path)
    model.train()
    data = model.data_preprocessor(train_batch(cfg), True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(**data, mode='loss')
    loss, log_vars = model.parse_losses(losses)
    assert math.isfinite(loss.item()) and loss.item() > 0, log_vars
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
