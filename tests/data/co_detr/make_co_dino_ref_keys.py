"""Writes ``co_dino_5scale_r50_ref_keys.json``: the state-dict keys and shapes of mmdet's
``projects/CO-DETR`` Co-DINO 5-scale R50 model (config ``co_dino_5scale_r50_lsj_8xb2_1x_coco.py``), whose
released checkpoints :class:`DetrxCoDETR` must load with ``strict=True``.

How the list is derived (from reading the reference code, without running or copying it):

* ``backbone``: mmdet ``ResNet`` depth 50, BN frozen, ``out_indices=(0, 1, 2, 3)``;
  ``neck``: mmdet ``ChannelMapper`` [256, 512, 1024, 2048] -> 256, GN(32), ``num_outs=5`` (one extra conv).
* ``query_head`` (``CoDINOHead(DINOHead)``), whose ``_init_layers`` builds:
  ``transformer`` (``CoDinoTransformer``): mmcv-1.x style ``encoder.layers.N`` = mmcv ``BaseTransformerLayer``
  (multi-scale deformable self-attention, 5 levels; FFN 2048; order self_attn, norm, ffn, norm; fairscale's
  checkpoint wrapper of ``with_cp`` does not rename keys) x6; ``decoder`` (``DinoTransformerDecoder``):
  ``layers.N`` = ``BaseTransformerLayer`` (MultiheadAttention 8 heads, deformable cross-attention 5 levels,
  FFN 2048; order self_attn, norm, cross_attn, norm, ffn, norm) x6, ``ref_point_head`` = Sequential(Linear(512,
  256), ReLU, Linear(256, 256)), ``norm`` = LayerNorm(256); its ``init_layers``: ``level_embeds`` (5, 256),
  ``enc_output`` Linear(256, 256), ``enc_output_norm``, ``query_embed`` Embedding(900, 256); its
  ``_init_layers`` for ``num_co_heads=2``: ``aux_pos_trans.k`` Linear(512, 256), ``aux_pos_trans_norm.k``
  LayerNorm(256) (``pos_feats_*`` stay empty as ``with_coord_feat=False``);
  ``cls_branches`` 7 x Linear(256, 80) and ``reg_branches`` 7 x Sequential(Linear, ReLU, Linear, ReLU,
  Linear(256, 4)) (6 decoder layers + 1 for the two-stage proposals); ``downsample`` = Sequential(Conv2d(256,
  256, 3, stride 2), GroupNorm(32, 256)); ``dn_generator`` = mmdet ``CdnQueryGenerator`` (``label_embedding``
  Embedding(80, 256)).
* ``rpn_head``: mmdet ``RPNHead`` (9 anchors); ``roi_head.0``: ``CoStandardRoIHead(StandardRoIHead)`` with
  ``Shared2FCBBoxHead`` (1024-d, 80 classes, class-specific regression); ``bbox_head.0``: ``CoATSSHead(ATSSHead)``
  (1 stacked conv, 6 strides). The ``Co*`` subclasses add no parameters.

The modules are rebuilt here from the library classes the reference itself instantiates (mmdet, mmcv) and
plain torch modules for its own attributes. Run from the repository root:
``python tests/data/co_detr/make_co_dino_ref_keys.py``.
"""
import json
import os.path as osp

import torch
from mmcv.cnn.bricks.transformer import BaseTransformerLayer
from mmengine.config import ConfigDict
from torch import nn

from mmdet.models.layers import CdnQueryGenerator
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

E, NUM_CLASSES, NUM_LEVELS, NUM_LAYERS, NUM_QUERIES, NUM_CO_HEADS = 256, 80, 5, 6, 900, 2


def reference_query_head() -> nn.Module:
    msda = dict(type='MultiScaleDeformableAttention', embed_dims=E, num_levels=NUM_LEVELS, dropout=0.0)
    ffn = dict(type='FFN', embed_dims=E, feedforward_channels=2048, num_fcs=2, ffn_drop=0.0,
               act_cfg=dict(type='ReLU', inplace=True))
    encoder = nn.Module()
    encoder.layers = nn.ModuleList([
        BaseTransformerLayer(attn_cfgs=msda, ffn_cfgs=ffn, operation_order=('self_attn', 'norm', 'ffn', 'norm'))
        for _ in range(NUM_LAYERS)])
    decoder = nn.Module()
    decoder.layers = nn.ModuleList([
        BaseTransformerLayer(
            attn_cfgs=[dict(type='MultiheadAttention', embed_dims=E, num_heads=8, dropout=0.0), msda],
            ffn_cfgs=ffn, operation_order=('self_attn', 'norm', 'cross_attn', 'norm', 'ffn', 'norm'))
        for _ in range(NUM_LAYERS)])
    decoder.ref_point_head = nn.Sequential(nn.Linear(2 * E, E), nn.ReLU(), nn.Linear(E, E))
    decoder.norm = nn.LayerNorm(E)

    transformer = nn.Module()
    transformer.encoder, transformer.decoder = encoder, decoder
    transformer.level_embeds = nn.Parameter(torch.zeros(NUM_LEVELS, E))
    transformer.enc_output = nn.Linear(E, E)
    transformer.enc_output_norm = nn.LayerNorm(E)
    transformer.query_embed = nn.Embedding(NUM_QUERIES, E)
    transformer.aux_pos_trans = nn.ModuleList([nn.Linear(2 * E, E) for _ in range(NUM_CO_HEADS)])
    transformer.aux_pos_trans_norm = nn.ModuleList([nn.LayerNorm(E) for _ in range(NUM_CO_HEADS)])

    head = nn.Module()
    head.transformer = transformer
    num_pred = NUM_LAYERS + 1
    head.cls_branches = nn.ModuleList([nn.Linear(E, NUM_CLASSES) for _ in range(num_pred)])
    head.reg_branches = nn.ModuleList([
        nn.Sequential(nn.Linear(E, E), nn.ReLU(), nn.Linear(E, E), nn.ReLU(), nn.Linear(E, 4))
        for _ in range(num_pred)])
    head.downsample = nn.Sequential(nn.Conv2d(E, E, 3, stride=2, padding=1), nn.GroupNorm(32, E))
    head.dn_generator = CdnQueryGenerator(num_classes=NUM_CLASSES, embed_dims=E, num_matching_queries=NUM_QUERIES,
                                          group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=100))
    return head


def reference_model() -> nn.Module:
    register_all_modules()
    model = nn.Module()
    model.backbone = MODELS.build(dict(
        type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch'))
    model.neck = MODELS.build(dict(
        type='ChannelMapper', in_channels=[256, 512, 1024, 2048], kernel_size=1, out_channels=E, act_cfg=None,
        norm_cfg=dict(type='GN', num_groups=32), num_outs=NUM_LEVELS))
    model.query_head = reference_query_head()
    model.rpn_head = MODELS.build(ConfigDict(
        type='RPNHead', in_channels=E, feat_channels=E,
        anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                              ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64, 128]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0] * 4, target_stds=[1.0] * 4)))
    model.roi_head = nn.ModuleList([MODELS.build(ConfigDict(
        type='StandardRoIHead',
        bbox_roi_extractor=dict(type='SingleRoIExtractor', roi_layer=dict(type='RoIAlign', output_size=7,
                                                                        sampling_ratio=0),
                                out_channels=E, featmap_strides=[4, 8, 16, 32, 64], finest_scale=56),
        bbox_head=dict(type='Shared2FCBBoxHead', in_channels=E, fc_out_channels=1024, roi_feat_size=7,
                       num_classes=NUM_CLASSES, reg_class_agnostic=False, reg_decoded_bbox=True,
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                                       target_stds=[0.1, 0.1, 0.2, 0.2]))))])
    model.bbox_head = nn.ModuleList([MODELS.build(ConfigDict(
        type='ATSSHead', num_classes=NUM_CLASSES, in_channels=E, stacked_convs=1, feat_channels=E,
        anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=8, scales_per_octave=1,
                              strides=[4, 8, 16, 32, 64, 128]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2])))])
    return model


def main() -> None:
    state = reference_model().state_dict()
    out = dict(
        source='mmdet projects/CO-DETR configs/codino/co_dino_5scale_r50_lsj_8xb2_1x_coco.py '
               '(CoDETR + CoDINOHead + CoDinoTransformer + RPNHead + CoStandardRoIHead + CoATSSHead)',
        derivation='tests/data/co_detr/make_co_dino_ref_keys.py',
        keys={k: list(v.shape) for k, v in state.items()})
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'co_dino_5scale_r50_ref_keys.json')
    with open(path, 'w') as f:  # one key per line: diffable
        f.write('{\n' + ',\n'.join(f'{json.dumps(k)}: {json.dumps(v)}' for k, v in out.items() if k != 'keys'))
        f.write(',\n"keys": {\n' + ',\n'.join(f'{json.dumps(k)}: {json.dumps(v)}' for k, v in out['keys'].items()))
        f.write('\n}\n}\n')
    print(f'{len(state)} keys -> {path}')


if __name__ == '__main__':
    main()
