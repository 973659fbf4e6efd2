"""Mixed precision: every shipped small config trains a step under bf16 autocast (CPU) with finite losses and
gradients. The batch comes from the config's own training pipeline (2 images, resized small)."""
import glob
import math
import os.path as osp

import pytest
import torch

from mmdet_detrx.utils.model_build import build_detector

from ..conftest import REPO
from ..helpers import train_batch

SMALL = sorted(p for p in glob.glob(osp.join(REPO, 'configs', '*', '*_1xb*.py')))


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
