"""The checkpoints in checkpoints/ load into their configs' models with every key (no pickle of foreign objects)
and detect cells on a BCCD test image."""
import os.path as osp

import pytest
import torch

from tests.conftest import REPO

SHIPPED = {
    'dino_lite0_bccd_co-dino-14e.pth': 'configs/dino/dino_lite0_1xb2-14e_bccd.py',
    'conditional-detr_lite0_bccd_co-conditional-14e.pth':
    'configs/conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py',
}


@pytest.mark.parametrize('name', sorted(SHIPPED))
def test_shipped_checkpoint_loads_strictly_and_detects(name):
    from mmdet.apis import inference_detector
    from mmengine.runner import load_checkpoint

    from mmdet_detrx.utils.model_build import build_detector
    cfg, model = build_detector(osp.join(REPO, SHIPPED[name]))
    state = torch.load(osp.join(REPO, 'checkpoints', name), map_location='cpu', weights_only=True)
    assert set(state['state_dict']) == set(model.state_dict())
    load_checkpoint(model, osp.join(REPO, 'checkpoints', name), map_location='cpu', strict=True)
    model.cfg = cfg
    model.eval()
    image = osp.join(REPO, 'data', 'bccd', 'BCCD', 'JPEGImages', 'BloodImage_00031.jpg')
    result = inference_detector(model, image)
    scores, labels = result.pred_instances.scores, result.pred_instances.labels
    confident = labels[scores > 0.3]
    assert (confident == 0).sum() >= 5  # red blood cells fill these images
