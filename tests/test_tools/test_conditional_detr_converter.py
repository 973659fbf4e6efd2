"""Tests of the official Conditional DETR -> mmdet ConditionalDETR checkpoint converter.

Source state dicts are generated from the module structure of the official Atten4Vis/ConditionalDETR code
(torchvision ResNet with FrozenBatchNorm2d under ``backbone.0.body``, ``input_proj``, ``query_embed``,
``transformer.{encoder,decoder}``, ``class_embed``, ``bbox_embed`` MLP), with random values.
"""
import argparse
import json
import math
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from mmdet_detrx.utils.converters import (COCO_CATEGORY_IDS, ConversionError, check_against_state_dict,
                                          convert_conditional_detr, convert_conditional_detr_with_report,
                                          describe_conditional_detr)

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
TOOL = osp.join(ROOT, 'tools', 'model_converters', 'conditional_detr_to_mmdet.py')

# ---------------------------------------------------------------------------------------------------
# official layout


def _resnet_shapes(depth):
    """torchvision ResNet parameter/buffer shapes (FrozenBatchNorm2d: 4 buffers, no num_batches_tracked)."""
    bottleneck, blocks = {18: (False, (2, 2, 2, 2)), 50: (True, (3, 4, 6, 3))}[depth]
    shapes = {}

    def bn(name, c):
        for p in ('weight', 'bias', 'running_mean', 'running_var'):
            shapes[f'{name}.{p}'] = (c, )

    shapes['conv1.weight'] = (64, 3, 7, 7)
    bn('bn1', 64)
    inplanes, expansion = 64, 4 if bottleneck else 1
    for stage, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        for b in range(n):
            pre = f'layer{stage}.{b}.'
            if bottleneck:
                shapes[pre + 'conv1.weight'] = (planes, inplanes, 1, 1)
                shapes[pre + 'conv2.weight'] = (planes, planes, 3, 3)
                shapes[pre + 'conv3.weight'] = (planes * 4, planes, 1, 1)
                for c, ch in ((1, planes), (2, planes), (3, planes * 4)):
                    bn(f'{pre}bn{c}', ch)
            else:
                shapes[pre + 'conv1.weight'] = (planes, inplanes, 3, 3)
                shapes[pre + 'conv2.weight'] = (planes, planes, 3, 3)
                bn(pre + 'bn1', planes)
                bn(pre + 'bn2', planes)
            stride = 1 if stage == 1 else 2
            if b == 0 and (stride != 1 or inplanes != planes * expansion):
                shapes[pre + 'downsample.0.weight'] = (planes * expansion, inplanes, 1, 1)
                bn(pre + 'downsample.1', planes * expansion)
            inplanes = planes * expansion
    return shapes, inplanes


def official_shapes(depth=18, d=32, n_enc=1, n_dec=2, ffn=64, nq=5, num_classes=91):
    """Key -> shape of the official ConditionalDETR(...).state_dict() for the given arguments."""
    resnet, channels = _resnet_shapes(depth)
    shapes = {f'backbone.0.body.{k}': v for k, v in resnet.items()}
    shapes['input_proj.weight'] = (d, channels, 1, 1)
    shapes['input_proj.bias'] = (d, )
    shapes['query_embed.weight'] = (nq, d)

    def linear(name, out_f, in_f):
        shapes[name + '.weight'] = (out_f, in_f)
        shapes[name + '.bias'] = (out_f, )

    def norm(name):
        shapes[name + '.weight'] = (d, )
        shapes[name + '.bias'] = (d, )

    for i in range(n_enc):
        pre = f'transformer.encoder.layers.{i}.'
        shapes[pre + 'self_attn.in_proj_weight'] = (3 * d, d)  # nn.MultiheadAttention, packed q/k/v
        shapes[pre + 'self_attn.in_proj_bias'] = (3 * d, )
        linear(pre + 'self_attn.out_proj', d, d)
        linear(pre + 'linear1', ffn, d)
        linear(pre + 'linear2', d, ffn)
        norm(pre + 'norm1')
        norm(pre + 'norm2')
    for j in range(n_dec):
        pre = f'transformer.decoder.layers.{j}.'
        for name in ('sa_qcontent_proj', 'sa_qpos_proj', 'sa_kcontent_proj', 'sa_kpos_proj', 'sa_v_proj'):
            linear(pre + name, d, d)
        linear(pre + 'self_attn.out_proj', d, d)  # the official MultiheadAttention owns only out_proj
        ca = ['ca_qcontent_proj'] + (['ca_qpos_proj'] if j == 0 else []) + [
            'ca_kcontent_proj', 'ca_kpos_proj', 'ca_v_proj', 'ca_qpos_sine_proj']
        for name in ca:
            linear(pre + name, d, d)
        linear(pre + 'cross_attn.out_proj', d, d)  # MultiheadAttention(2d, nhead, vdim=d): out_proj d->d
        linear(pre + 'linear1', ffn, d)
        linear(pre + 'linear2', d, ffn)
        for n in (1, 2, 3):
            norm(f'{pre}norm{n}')
    norm('transformer.decoder.norm')
    linear('transformer.decoder.query_scale.layers.0', d, d)
    linear('transformer.decoder.query_scale.layers.1', d, d)
    linear('transformer.decoder.ref_point_head.layers.0', d, d)
    linear('transformer.decoder.ref_point_head.layers.1', 2, d)
    linear('class_embed', num_classes, d)
    linear('bbox_embed.layers.0', d, d)
    linear('bbox_embed.layers.1', d, d)
    linear('bbox_embed.layers.2', 4, d)
    return shapes


def official_state_dict(seed=0, **kwargs):
    """Random values with trained-like magnitudes (fan-in scaled weights, norm weights near 1), so that
    attention is far from uniform and a swapped projection changes the outputs well beyond tolerance."""
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in official_shapes(**kwargs).items():
        value = torch.randn(shape, generator=gen)
        if len(shape) >= 2 and k != 'query_embed.weight':
            value = value / math.sqrt(math.prod(shape[1:]))
        elif 'norm' in k and k.endswith('.weight'):
            value = 1 + 0.1 * value
        elif k.endswith('running_var'):
            value = value.abs() + 0.5
        elif len(shape) == 1:
            value = 0.1 * value
        sd[k] = value
    return sd


# the independently written name correspondence the test checks the converter against
def expected_target(src_key):
    k = src_key
    if k.startswith('backbone.0.body.'):
        return 'backbone.' + k[len('backbone.0.body.'):]
    fixed = {'input_proj': 'neck.convs.0.conv', 'query_embed': 'query_embedding',
             'class_embed': 'bbox_head.fc_cls', 'bbox_embed.layers.0': 'bbox_head.reg_ffn.layers.0.0',
             'bbox_embed.layers.1': 'bbox_head.reg_ffn.layers.1', 'bbox_embed.layers.2': 'bbox_head.fc_reg',
             'transformer.decoder.norm': 'decoder.post_norm'}
    module, param = k.rsplit('.', 1)
    if module in fixed:
        return f'{fixed[module]}.{param}'
    k = k.replace('transformer.', '', 1)
    parts = k.split('.')
    if parts[1] != 'layers':  # query_scale / ref_point_head
        return k
    head, name, rest = '.'.join(parts[:3]), parts[3], '.'.join(parts[4:])
    if parts[0] == 'encoder' and name == 'self_attn':
        return f'{head}.self_attn.attn.{rest}'
    if name in ('self_attn', 'cross_attn'):
        return f'{head}.{name}.{rest}'
    if name.startswith('sa_'):
        return f'{head}.self_attn.{name[3:]}.{rest}'
    if name.startswith('ca_'):
        return f'{head}.cross_attn.{name[3:]}.{rest}'
    if name in ('linear1', 'linear2'):
        return f"{head}.ffn.{'layers.0.0' if name == 'linear1' else 'layers.1'}.{rest}"
    if name.startswith('norm'):
        return f'{head}.norms.{int(name[4:]) - 1}.{rest}'
    raise AssertionError(f'unexpected official key {src_key}')


# ---------------------------------------------------------------------------------------------------
# mmdet model


def mmdet_cfg(depth=18, d=32, n_enc=1, n_dec=2, ffn=64, nq=5, num_classes=80, heads=8, dc5=False):
    channels = 512 if depth == 18 else 2048

    def cond_attn(cross):
        return dict(embed_dims=d, num_heads=heads, attn_drop=0.0, cross_attn=cross)

    ffn_cfg = dict(embed_dims=d, feedforward_channels=ffn, num_fcs=2, ffn_drop=0.0,
                   act_cfg=dict(type='ReLU', inplace=True))
    backbone = dict(type='ResNet', depth=depth, num_stages=4, out_indices=(3, ), frozen_stages=1,
                    norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch',
                    init_cfg=None)
    if dc5:
        backbone.update(strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2))
    return dict(
        type='ConditionalDETR', num_queries=nq,
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=1),
        backbone=backbone,
        neck=dict(type='ChannelMapper', in_channels=[channels], kernel_size=1, out_channels=d, act_cfg=None,
                  norm_cfg=None, num_outs=1),
        encoder=dict(num_layers=n_enc, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=d, num_heads=heads, dropout=0.0, batch_first=True),
            ffn_cfg=ffn_cfg)),
        decoder=dict(num_layers=n_dec, return_intermediate=True, layer_cfg=dict(
            self_attn_cfg=cond_attn(False), cross_attn_cfg=cond_attn(True), ffn_cfg=ffn_cfg)),
        positional_encoding=dict(num_feats=d // 2, normalize=True),
        bbox_head=dict(type='ConditionalDETRHead', num_classes=num_classes, embed_dims=d,
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                       loss_bbox=dict(type='L1Loss', loss_weight=5.0),
                       loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
        train_cfg=dict(assigner=dict(type='HungarianAssigner', match_costs=[
            dict(type='FocalLossCost', weight=2.0), dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0)])),
        test_cfg=dict(max_per_img=10),
        init_cfg=None)


def build_mmdet(**kwargs):
    from mmengine.registry import init_default_scope
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    return MODELS.build(mmdet_cfg(**kwargs))


def assert_converted_matches(src, converted, class_rows):
    converted = dict(converted)
    for k, v in src.items():
        target = expected_target(k)
        assert target in converted, f'{k} -> {target} not produced'
        out = converted.pop(target)
        if target.startswith('bbox_head.fc_cls.') and class_rows is not None:
            assert torch.equal(out, v[list(class_rows)])
        else:
            assert out.shape == v.shape and torch.equal(out, v), k
    # the only additions: num_batches_tracked of the (Frozen)BN layers
    assert all(k.endswith('.num_batches_tracked') for k in converted), sorted(converted)
    assert all(k[:-len('num_batches_tracked')] + 'running_var' in
               {expected_target(s) for s in src} for k in converted)
    assert all(v.item() == 0 for v in converted.values())


# ---------------------------------------------------------------------------------------------------
# tests


@pytest.mark.parametrize('depth,dc5,num_classes,mapping,target_classes', [
    (18, False, 91, 'auto', 80),     # COCO rows 91 -> 80 by default
    (50, True, 91, 'none', 91),      # DC5 R50: same keys; rows kept on request
    (18, False, 21, 'auto', 21),     # non-COCO head: auto keeps the rows
])
def test_convert_loads_strictly_and_preserves_values(depth, dc5, num_classes, mapping, target_classes):
    src = official_state_dict(depth=depth, num_classes=num_classes)
    converted = convert_conditional_detr(src, class_mapping=mapping)
    rows = COCO_CATEGORY_IDS if target_classes == 80 and num_classes == 91 else None
    assert_converted_matches(src, converted, rows)

    model = build_mmdet(depth=depth, dc5=dc5, num_classes=target_classes)
    assert check_against_state_dict(converted, model.state_dict()) == dict(
        missing=[], unexpected=[], shape_mismatch=[])
    model.load_state_dict(converted, strict=True)
    loaded = model.state_dict()
    for k, v in converted.items():
        assert torch.equal(loaded[k], v), k


def test_describe_infers_structure():
    info = describe_conditional_detr({'model': official_state_dict(depth=50, d=32, n_enc=2, n_dec=3, nq=7)})
    assert info['backbone_depth'] == 50 and info['backbone_block'] == 'Bottleneck'
    assert info['backbone_stage_blocks'] == (3, 4, 6, 3) and info['backbone_channels'] == 2048
    assert (info['embed_dims'], info['num_queries'], info['num_classes']) == (32, 7, 91)
    assert (info['num_encoder_layers'], info['num_decoder_layers'], info['feedforward_channels']) == (2, 3, 64)


def test_coco_category_ids_match_mmdet_label_order():
    assert len(COCO_CATEGORY_IDS) == 80 and list(COCO_CATEGORY_IDS) == sorted(set(COCO_CATEGORY_IDS))
    assert min(COCO_CATEGORY_IDS) == 1 and max(COCO_CATEGORY_IDS) == 90
    ann = osp.join(ROOT, 'data', 'coco128', 'annotations', 'instances_val2017.json')
    if not osp.isfile(ann):
        pytest.skip('no COCO annotation file to cross-check against')
    from mmdet.datasets import CocoDataset
    with open(ann) as f:
        name2id = {c['name']: c['id'] for c in json.load(f)['categories']}
    assert [name2id[n] for n in CocoDataset.METAINFO['classes']] == list(COCO_CATEGORY_IDS)


def test_class_mapping_options():
    src = official_state_dict(num_classes=91)
    w, b = src['class_embed.weight'], src['class_embed.bias']
    out = convert_conditional_detr(src, class_mapping='coco')
    # mmdet label 0 (person) is COCO id 1, label 11 (stop sign) is id 13, last (toothbrush) is id 90
    assert torch.equal(out['bbox_head.fc_cls.weight'][0], w[1])
    assert torch.equal(out['bbox_head.fc_cls.weight'][11], w[13])
    assert torch.equal(out['bbox_head.fc_cls.bias'][79], b[90])
    out = convert_conditional_detr(src, class_mapping=[5, 3])
    assert torch.equal(out['bbox_head.fc_cls.weight'], w[[5, 3]])
    assert torch.equal(convert_conditional_detr(src, class_mapping='none')['bbox_head.fc_cls.bias'], b)
    with pytest.raises(ConversionError, match='needs 91 class rows'):
        convert_conditional_detr(official_state_dict(num_classes=21), class_mapping='coco')
    with pytest.raises(ConversionError, match='within'):
        convert_conditional_detr(src, class_mapping=[91])
    with pytest.raises(ConversionError, match='class_mapping must be'):
        convert_conditional_detr(src, class_mapping='voc')


def test_wrapped_and_ddp_prefixed_sources():
    src = official_state_dict()
    ref = convert_conditional_detr(src)
    for wrapped in ({'model': src, 'epoch': 3}, {f'module.{k}': v for k, v in src.items()}):
        out = convert_conditional_detr(wrapped)
        assert list(out) == list(ref) and all(torch.equal(out[k], ref[k]) for k in ref)


def test_not_official_checkpoint_errors():
    src = official_state_dict()
    del src['transformer.decoder.layers.0.ca_qpos_sine_proj.weight']
    with pytest.raises(ConversionError, match=r'not an official Conditional DETR checkpoint: missing keys '
                       r".*ca_qpos_sine_proj\.weight"):
        convert_conditional_detr(src)
    mmdet_style = {'state_dict': dict(build_mmdet().state_dict())}
    with pytest.raises(ConversionError, match='not an official.*mmdet-layout'):
        convert_conditional_detr(mmdet_style)
    with pytest.raises(ConversionError, match='must be tensors'):
        convert_conditional_detr({**official_state_dict(), 'extra': 3})


def test_unused_source_keys_are_reported():
    src = official_state_dict()
    src['transformer.decoder.layers.1.ca_qpos_proj.weight'] = torch.zeros(32, 32)
    src['backbone.1.row_embed.weight'] = torch.zeros(50, 16)
    src['transformer.decoder.layers.0.mystery.weight'] = torch.zeros(3)
    with pytest.raises(ConversionError) as err:
        convert_conditional_detr(src)
    msg = str(err.value)
    assert '3 source key(s) have no counterpart' in msg
    assert 'layers.1.ca_qpos_proj.weight: mmdet keeps cross_attn.qpos_proj in decoder layer 0 only' in msg
    assert 'backbone.1.row_embed.weight: learned positional embedding' in msg
    assert 'transformer.decoder.layers.0.mystery.weight' in msg and '--allow-unused' in msg
    report = convert_conditional_detr_with_report(src)
    assert set(report.unused) == {'transformer.decoder.layers.1.ca_qpos_proj.weight',
                                  'backbone.1.row_embed.weight', 'transformer.decoder.layers.0.mystery.weight'}
    with pytest.warns(UserWarning, match='dropped'):
        out = convert_conditional_detr(src, allow_unused=True)
    build_mmdet().load_state_dict(out, strict=True)


def test_missing_target_keys_are_reported():
    src = official_state_dict(depth=50)
    del src['transformer.decoder.layers.1.ca_v_proj.bias']
    del src['backbone.0.body.layer3.2.bn2.running_mean']
    del src['transformer.encoder.layers.0.norm2.weight']
    with pytest.raises(ConversionError) as err:
        convert_conditional_detr(src)
    msg = str(err.value)
    for key in ('decoder.layers.1.cross_attn.v_proj.bias', 'backbone.layer3.2.bn2.running_mean',
                'encoder.layers.0.norms.1.weight'):
        assert key in msg
    assert '3 key(s) of mmdet ConditionalDETR got no value' in msg
    with pytest.warns(UserWarning, match='got no value'):
        out = convert_conditional_detr(src, allow_missing=True)
    diff = check_against_state_dict(out, build_mmdet(depth=50, num_classes=80).state_dict())
    assert sorted(diff['missing']) == sorted(['decoder.layers.1.cross_attn.v_proj.bias',
                                              'backbone.layer3.2.bn2.running_mean',
                                              'encoder.layers.0.norms.1.weight'])
    # a stray block outside the inferred layout is not passed through silently
    src = official_state_dict()
    src['backbone.0.body.layer1.0.downsample.0.weight'] = torch.zeros(64, 64, 1, 1)  # BasicBlock layer1: none
    with pytest.raises(ConversionError, match=r'layer1\.0\.downsample\.0\.weight: outside the BasicBlock'):
        convert_conditional_detr(src)


def test_check_against_state_dict_reports_shapes():
    out = convert_conditional_detr(official_state_dict(nq=5))
    diff = check_against_state_dict(out, build_mmdet(nq=6).state_dict())
    assert diff['missing'] == [] and diff['unexpected'] == []
    assert diff['shape_mismatch'] == [('query_embedding.weight', (5, 32), (6, 32))]


# --- numerical equivalence of the transformer + head with an independent functional version of the
# official forward (Transformer.forward, TransformerDecoderLayer.forward_post, ConditionalDETR.forward)


def _lin(sd, name, x):
    return F.linear(x, sd[name + '.weight'], sd[name + '.bias'])


def _ln(sd, name, x):
    return F.layer_norm(x, x.shape[-1:], sd[name + '.weight'], sd[name + '.bias'])


def _mlp(sd, name, x, n):
    for i in range(n):
        x = _lin(sd, f'{name}.layers.{i}', x)
        x = F.relu(x) if i < n - 1 else x
    return x


def _attend(q, k, v, nhead, sd, out_name, key_padding_mask=None):
    """Multi-head attention on projected (L, B, E) tensors: head dim E_q/nhead, value head dim E_v/nhead."""
    lq, bs, eq = q.shape
    lk, ev = k.shape[0], v.shape[-1]
    hd, vd = eq // nhead, ev // nhead
    q = (q * hd**-0.5).reshape(lq, bs * nhead, hd).transpose(0, 1)
    k = k.reshape(lk, bs * nhead, hd).transpose(0, 1)
    v = v.reshape(lk, bs * nhead, vd).transpose(0, 1)
    logits = q @ k.transpose(1, 2)
    if key_padding_mask is not None:
        logits = logits.view(bs, nhead, lq, lk).masked_fill(key_padding_mask[:, None, None], float('-inf'))
        logits = logits.view(bs * nhead, lq, lk)
    out = (logits.softmax(-1) @ v).transpose(0, 1).reshape(lq, bs, ev)
    return _lin(sd, out_name, out)


def _sine(coord, num_feats, temperature=10000):
    dim_t = torch.arange(num_feats, dtype=torch.float32)
    dim_t = temperature**(2 * torch.div(dim_t, 2, rounding_mode='floor') / num_feats)
    parts = []
    for c in coord:  # y first, then x
        p = c[..., None] / dim_t
        parts.append(torch.stack((p[..., 0::2].sin(), p[..., 1::2].cos()), dim=-1).flatten(-2))
    return torch.cat(parts, dim=-1)


def official_forward(sd, src, mask, nhead, n_enc, n_dec):
    """Logits (n_dec, B, nq, C) and boxes (n_dec, B, nq, 4) of the official model from backbone features."""
    x = F.conv2d(src, sd['input_proj.weight'], sd['input_proj.bias'])
    bs, d, h, w = x.shape
    not_mask = (~mask).float()
    y_embed, x_embed = not_mask.cumsum(1), not_mask.cumsum(2)
    y_embed = y_embed / (y_embed[:, -1:, :] + 1e-6) * 2 * math.pi
    x_embed = x_embed / (x_embed[:, :, -1:] + 1e-6) * 2 * math.pi
    pos = _sine((y_embed, x_embed), d // 2).permute(0, 3, 1, 2)
    mem, pos = x.flatten(2).permute(2, 0, 1), pos.flatten(2).permute(2, 0, 1)
    kpm = mask.flatten(1)
    for i in range(n_enc):
        pre = f'transformer.encoder.layers.{i}.'
        qk = mem + pos
        a = F.multi_head_attention_forward(
            qk, qk, mem, d, nhead, sd[pre + 'self_attn.in_proj_weight'], sd[pre + 'self_attn.in_proj_bias'],
            None, None, False, 0.0, sd[pre + 'self_attn.out_proj.weight'], sd[pre + 'self_attn.out_proj.bias'],
            training=False, key_padding_mask=kpm, need_weights=False)[0]
        mem = _ln(sd, pre + 'norm1', mem + a)
        mem = _ln(sd, pre + 'norm2', mem + _lin(sd, pre + 'linear2', F.relu(_lin(sd, pre + 'linear1', mem))))
    query_pos = sd['query_embed.weight'][:, None].repeat(1, bs, 1)
    tgt = torch.zeros_like(query_pos)
    ref = _mlp(sd, 'transformer.decoder.ref_point_head', query_pos, 2).sigmoid()  # (nq, B, 2)
    hs = []
    for j in range(n_dec):
        pre = f'transformer.decoder.layers.{j}.'
        trans = 1 if j == 0 else _mlp(sd, 'transformer.decoder.query_scale', tgt, 2)
        sine = _sine((ref[..., 1] * 2 * math.pi, ref[..., 0] * 2 * math.pi), 128) * trans
        q = _lin(sd, pre + 'sa_qcontent_proj', tgt) + _lin(sd, pre + 'sa_qpos_proj', query_pos)
        k = _lin(sd, pre + 'sa_kcontent_proj', tgt) + _lin(sd, pre + 'sa_kpos_proj', query_pos)
        tgt = _ln(sd, pre + 'norm1', tgt + _attend(q, k, _lin(sd, pre + 'sa_v_proj', tgt), nhead, sd,
                                                   pre + 'self_attn.out_proj'))
        q = _lin(sd, pre + 'ca_qcontent_proj', tgt)
        k = _lin(sd, pre + 'ca_kcontent_proj', mem)
        k_pos = _lin(sd, pre + 'ca_kpos_proj', pos)
        if j == 0:
            q, k = q + _lin(sd, pre + 'ca_qpos_proj', query_pos), k + k_pos
        nq, hw = q.shape[0], k.shape[0]
        q = torch.cat([q.view(nq, bs, nhead, -1),
                       _lin(sd, pre + 'ca_qpos_sine_proj', sine).view(nq, bs, nhead, -1)], 3).view(nq, bs, 2 * d)
        k = torch.cat([k.view(hw, bs, nhead, -1), k_pos.view(hw, bs, nhead, -1)], 3).view(hw, bs, 2 * d)
        a = _attend(q, k, _lin(sd, pre + 'ca_v_proj', mem), nhead, sd, pre + 'cross_attn.out_proj', kpm)
        tgt = _ln(sd, pre + 'norm2', tgt + a)
        tgt = _ln(sd, pre + 'norm3', tgt + _lin(sd, pre + 'linear2', F.relu(_lin(sd, pre + 'linear1', tgt))))
        hs.append(_ln(sd, 'transformer.decoder.norm', tgt))
    hs = torch.stack(hs).transpose(1, 2)  # (n_dec, B, nq, d)
    ref = ref.transpose(0, 1)
    ref_logit = torch.log(ref.clamp(min=1e-5) / (1 - ref).clamp(min=1e-5))
    boxes = _mlp(sd, 'bbox_embed', hs, 3)
    boxes = torch.cat([boxes[..., :2] + ref_logit, boxes[..., 2:]], -1).sigmoid()
    return _lin(sd, 'class_embed', hs), boxes


def test_converted_model_matches_official_forward():
    """Same outputs from backbone features on: the renaming is semantically right, not only shape-right."""
    from mmdet.structures import DetDataSample
    d, nhead, n_enc, n_dec, nq = 256, 8, 1, 2, 6  # d=256: both codes hard-code 128 sine feats per coord
    src_sd = official_state_dict(seed=1, d=d, n_enc=n_enc, n_dec=n_dec, nq=nq, ffn=64)
    model = build_mmdet(d=d, n_enc=n_enc, n_dec=n_dec, nq=nq, ffn=64)
    model.load_state_dict(convert_conditional_detr(src_sd), strict=True)
    model.eval()

    torch.manual_seed(0)
    feats = torch.randn(2, 512, 4, 5)
    batch_shape, img_shapes = (32, 40), [(32, 40), (24, 30)]  # second image padded -> masked keys
    samples = []
    img_mask = torch.ones(2, *batch_shape, dtype=torch.bool)
    for b, shape in enumerate(img_shapes):
        samples.append(DetDataSample(metainfo=dict(batch_input_shape=batch_shape, img_shape=shape)))
        img_mask[b, :shape[0], :shape[1]] = False
    feat_mask = F.interpolate(img_mask[None].float(), size=feats.shape[-2:]).bool()[0]
    assert feat_mask.any() and not feat_mask.all()

    with torch.no_grad():
        ref_logits, ref_boxes = official_forward(src_sd, feats, feat_mask, nhead, n_enc, n_dec)
        head_inputs = model.forward_transformer(model.neck((feats, )), samples)
        logits, boxes = model.bbox_head(**head_inputs)
    assert logits.shape == (n_dec, 2, nq, 80) and boxes.shape == (n_dec, 2, nq, 4)
    torch.testing.assert_close(logits, ref_logits[..., list(COCO_CATEGORY_IDS)], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(boxes, ref_boxes, rtol=1e-4, atol=1e-5)

    # the comparison is sharp enough to catch a swapped pair of same-shape projections
    swapped = dict(src_sd)
    for p in ('weight', 'bias'):
        qk = [f'transformer.decoder.layers.1.sa_{n}_proj.{p}' for n in ('qpos', 'kpos')]
        swapped[qk[0]], swapped[qk[1]] = src_sd[qk[1]], src_sd[qk[0]]
    model.load_state_dict(convert_conditional_detr(swapped), strict=True)
    with torch.no_grad():
        wrong_logits, _ = model.bbox_head(**model.forward_transformer(model.neck((feats, )), samples))
    assert (wrong_logits[-1] - logits[-1]).abs().max() > 1e-2


# --- CLI


def _write_official_checkpoint(path, **kwargs):
    sd = official_state_dict(**kwargs)
    args = argparse.Namespace(backbone='resnet18', dilation=False, nheads=8, hidden_dim=32, num_queries=5,
                              position_embedding='sine', lr_drop=40, output_dir='out', device='cuda')
    torch.save({'model': sd, 'optimizer': {'state': {}, 'param_groups': []}, 'lr_scheduler': {}, 'epoch': 49,
                'args': args}, path)
    return sd


def _run_tool(*argv):
    return subprocess.run([sys.executable, TOOL, *map(str, argv)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_cli_end_to_end(tmp_path):
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    src_path, dst_path = tmp_path / 'conddetr_r18.pth', tmp_path / 'converted.pth'
    src = _write_official_checkpoint(src_path)
    cfg_path = tmp_path / 'tiny_cond_detr.py'
    Config(dict(default_scope='mmdet', model=mmdet_cfg())).dump(str(cfg_path))

    proc = _run_tool(src_path, dst_path, '--config', cfg_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'class rows: coco91_to_80' in proc.stdout and 'num_heads=8' in proc.stdout

    model = build_mmdet()
    ckpt = load_checkpoint(model, str(dst_path), map_location='cpu', strict=True)
    meta = ckpt['meta']
    assert meta['class_mapping'] == 'coco91_to_80' and meta['num_classes'] == 80
    assert meta['source_epoch'] == 49 and meta['source_args']['nheads'] == 8
    assert len(meta['dataset_meta']['classes']) == 80 and meta['dataset_meta']['classes'][0] == 'person'
    loaded = model.state_dict()
    for k, v in src.items():
        target = expected_target(k)
        expect = v[list(COCO_CATEGORY_IDS)] if target.startswith('bbox_head.fc_cls.') else v
        assert torch.equal(loaded[target], expect), k


def test_cli_rejects_foreign_checkpoint(tmp_path):
    bad = tmp_path / 'not_conddetr.pth'
    torch.save({'model': {'backbone.0.body.conv1.weight': torch.zeros(64, 3, 7, 7),
                          'transformer.decoder.layers.0.multihead_attn.in_proj_weight': torch.zeros(6, 2)}}, bad)
    proc = _run_tool(bad, tmp_path / 'out.pth')
    assert proc.returncode != 0
    assert 'not an official Conditional DETR checkpoint: missing keys' in proc.stderr
    assert 'original DETR' in proc.stderr
    assert not (tmp_path / 'out.pth').exists()
