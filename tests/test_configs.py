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


@pytest.mark.parametrize('path', CONFIGS, ids=[osp.relpath(p, osp.join(REPO, 'configs')) for p in CONFIGS])
def test_config_model_builds(path):
    """Every shipped config's model builds (pre-trained weights dropped: nothing is downloaded)."""
    from mmdet_detrx.utils.model_build import build_detector
    cfg, model = build_detector(path)
    assert type(model).__name__ == cfg.model.type
    assert sum(p.numel() for p in model.parameters()) > 0


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
    model_type, scratch = build_target_state(config)  # the small R18 configs train from scratch with GroupNorm
    assert model_type == 'CondDETR' and 'backbone.gn1.weight' in scratch and 'backbone.bn1.weight' not in scratch
    _, bn = build_target_state(config, {'model.backbone.norm_cfg': dict(_delete_=True, type='BN', requires_grad=False)})
    assert 'backbone.bn1.weight' in bn and 'backbone.gn1.weight' not in bn
    assert scratch['bbox_head.fc_cls.weight'].shape[0] == 3
    with pytest.raises(SystemExit, match='config not found'):
        build_target_state(config + '.missing')


def test_build_detector_drops_every_pretrained_init_and_keeps_the_given_config():
    from mmdet_detrx.utils.model_build import build_detector, pretrained_init_keys
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'co_detr', 'co-conditional-detr_lite0_1xb2-14e_bccd.py'))
    before = pretrained_init_keys(cfg.model)
    assert before == ['model.backbone.init_cfg'], 'the shipped config loads ImageNet weights'
    used, model = build_detector(cfg, {'model.num_classes': 5})
    assert pretrained_init_keys(used.model) == [] and used.model.num_classes == 5
    assert pretrained_init_keys(cfg.model) == before and cfg.model.num_classes == 3  # caller's config kept
    assert type(model).__name__ == 'DetrxCoDETR' and model.bbox_head[0].num_classes == 5
    with pytest.raises(FileNotFoundError, match='config not found'):
        build_detector('no-such-config_r18.py')
