"""mmdet projects/CO-DETR checkpoints load into ours; our Co-DETR configs build; registry names."""
import json
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import load_state_dict

import mmdet_detrx  # noqa: F401  (registers the modules)
from mmdet.registry import MODELS
from mmdet_detrx.utils.converters.co_detr import convert_co_dino_reference_keys
from .helpers import REF_KEYS, REPO


def _co_dino_r50():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'co_detr', 'co-dino-5scale_r50_8xb2-lsj-1x_coco.py'))
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def test_reference_co_dino_checkpoint_keys_load_strict():
    with open(REF_KEYS) as f:
        ref = json.load(f)['keys']
    model = _co_dino_r50()
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    converted = dict(ref)
    assert convert_co_dino_reference_keys(converted)
    assert {k: list(v) for k, v in converted.items()} == ours

    # a checkpoint in the reference layout loads with strict=True, every tensor where it belongs
    g = torch.Generator().manual_seed(0)
    state = {k: (torch.randint(0, 5, shape, generator=g) if k.endswith('num_batches_tracked')
                 else torch.randn(shape, generator=g)) for k, shape in ref.items()}
    load_state_dict(model, dict(state), strict=True)
    model.load_state_dict(dict(state), strict=True)
    own = model.state_dict()
    pairs = {
        'query_head.transformer.decoder.layers.5.attentions.0.attn.in_proj_weight':
            'query_head.decoder.layers.5.self_attn.attn.in_proj_weight',
        'query_head.transformer.encoder.layers.2.ffns.0.layers.0.0.weight':
            'query_head.encoder.layers.2.ffn.layers.0.0.weight',
        'query_head.transformer.decoder.ref_point_head.2.bias': 'query_head.decoder.ref_point_head.layers.1.bias',
        'query_head.transformer.aux_pos_trans.1.weight': 'query_generator.proj.1.weight',
        'query_head.transformer.level_embeds': 'query_head.level_embed',
        'query_head.reg_branches.6.4.weight': 'query_head.bbox_head.reg_branches.6.4.weight',
        'query_head.dn_generator.label_embedding.weight': 'query_head.dn_query_generator.label_embedding.weight',
        'query_head.downsample.1.weight': 'memory_neck.downsample.1.weight',
        'bbox_head.0.atss_centerness.weight': 'bbox_head.0.atss_centerness.weight',
    }
    for ref_key, our_key in pairs.items():
        assert torch.equal(own[our_key], state[ref_key]), our_key
    # and our own checkpoints still load (no conversion applied)
    model.load_state_dict(own, strict=True)


# ---------------------------------------------------------------- configs
def test_configs_build():
    config_dir = osp.join(REPO, 'configs', 'co_detr')
    for name in ('co-dino_r18_1xb2-12e_coco128.py', 'co-deformable-detr_r50_8xb2-1x_coco.py',
                 'co-conditional-detr_r18_1xb2-12e_coco128.py', 'co-conditional-detr_r50_8xb2-50e_coco.py'):
        cfg = Config.fromfile(osp.join(config_dir, name))
        cfg.model.backbone.init_cfg = None
        model = MODELS.build(cfg.model)
        assert type(model).__name__ == 'DetrxCoDETR' and model.with_pos_queries
    for name in ('co-dino-5scale_r50_8xb2-lsj-3x_coco.py', 'co-dino-5scale_swin-l_16xb1-lsj-1x_coco.py'):
        cfg = Config.fromfile(osp.join(config_dir, name))
        assert cfg.model.type == 'DetrxCoDETR'
        assert cfg.custom_imports.imports == ['mmdet_detrx', 'mmdet_detrx.checkpoint_loading']
    swin = Config.fromfile(osp.join(config_dir, 'co-dino-5scale_swin-l_16xb1-lsj-1x_coco.py'))
    assert swin.model.backbone.init_cfg.type == 'Pretrained' and swin.model.neck.in_channels == [192, 384, 768, 1536]


def test_registry_names_are_ours():
    reference_names = ['CoDETR', 'CoDINOHead', 'CoATSSHead', 'CoStandardRoIHead', 'CoDinoTransformer',
                       'CoDeformableDetrTransformer', 'CoDeformDETRHead']
    ours = ['DetrxCoDETR', 'DetrxCoDINOHead', 'DetrxCoDeformableDETRHead', 'DetrxCoATSSHead', 'DetrxCoFCOSHead',
            'DetrxCoStandardRoIHead', 'DetrxCoMemoryNeck', 'DetrxCoPositiveQueryGenerator']
    for name in ours:
        assert MODELS.get(name).__module__.startswith('mmdet_detrx.'), name
    assert not set(ours) & set(reference_names)
