"""Every shipped config parses, and the dataset-specific small configs agree with their data."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.relpath(p, osp.join(REPO, 'configs')) for p in CONFIGS])
def test_config_parses(path):
    cfg = Config.fromfile(path)
    assert 'model' in cfg and cfg.default_scope == 'mmdet'
    assert 'mmdet_detrx' in cfg.custom_imports.imports


def test_co_detr_num_classes_reaches_every_head():
    register_all_modules()
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'co_detr', 'co-conditional-detr_r18_1xb2-12e_bccd.py'))
    assert cfg.train_dataloader.dataset.type == 'BCCDDataset'
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    heads = [model.query_head.bbox_head, *model.bbox_head, *[r.bbox_head for r in model.roi_head]]
    assert len(heads) == 3 and all(h.num_classes == 3 for h in heads)
    # the classifier widths follow: 3 sigmoid outputs for CondDETR/ATSS, 3 + background for the RoI head
    assert model.query_head.bbox_head.fc_cls.out_features == 3
    assert model.roi_head[0].bbox_head.fc_cls.out_features == 4


def test_converters_build_the_target_with_cfg_options():
    """The converters' --config check builds the model the run will have (--cfg-options included)."""
    from mmdet_detrx.utils.converters import build_target_state
    config = osp.join(REPO, 'configs', 'conditional_detr', 'conditional-detr_r18_1xb2-12e_bccd.py')
    model_type, plain = build_target_state(config)
    assert model_type == 'CondDETR' and 'backbone.bn1.weight' in plain and 'backbone.gn1.weight' not in plain
    _, scratch = build_target_state(config, {'model.backbone.norm_cfg': dict(type='GN', num_groups=32,
                                                                             requires_grad=True)})
    assert 'backbone.gn1.weight' in scratch and 'backbone.bn1.weight' not in scratch
    assert scratch['bbox_head.fc_cls.weight'].shape[0] == 3
    with pytest.raises(SystemExit, match='config not found'):
        build_target_state(config + '.missing')


def test_build_detector_drops_every_pretrained_init_and_keeps_the_given_config():
    from mmdet_detrx.utils.model_build import build_detector, pretrained_init_keys
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'co_detr', 'co-conditional-detr_r18_1xb2-12e_coco128.py'))
    before = pretrained_init_keys(cfg.model)
    assert before, 'the shipped config loads ImageNet weights for real users'
    used, model = build_detector(cfg, {'model.num_classes': 3})
    assert pretrained_init_keys(used.model) == [] and used.model.num_classes == 3
    assert pretrained_init_keys(cfg.model) == before and cfg.model.num_classes == 80  # caller's config kept
    assert type(model).__name__ == 'DetrxCoDETR' and model.bbox_head[0].num_classes == 3
    with pytest.raises(FileNotFoundError, match='config not found'):
        build_detector('no-such-config_r18.py')
