"""Tests of Co-DETR (DetrxCoDETR and its heads/layers) on tiny models, CPU, a few seconds each."""
import copy
import importlib
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import load_state_dict
from mmengine.structures import InstanceData

import mmdet_detrx  # noqa: F401  (registers the modules)
from mmdet.models.dense_heads import ATSSHead, FCOSHead
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_overlaps
from mmdet.utils import register_all_modules
from mmdet_detrx.models.detectors.co_detr import group_layer_targets
from mmdet_detrx.models.detectors.co_detr_compat import convert_co_dino_reference_keys
from mmdet_detrx.models.layers.co_detr_layers import pack_positive_queries

register_all_modules(init_default_scope=True)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REF_KEYS = osp.join(REPO, 'tests', 'data', 'co_detr', 'co_dino_5scale_r50_ref_keys.json')
NUM_CLASSES = 5
E = 256  # mmdet's DINO decoder hard-codes 128 sine features per coordinate, i.e. embed_dims 256
LEVELS = 4  # R18 C3-C5 + one extra neck level (strides 8..64); the memory neck adds stride 128
STRIDES = [8, 16, 32, 64, 128]


def _msda(num_levels=LEVELS):
    return dict(embed_dims=E, num_levels=num_levels, num_heads=8, num_points=2, dropout=0.0)


def _base_cfg(kind='dino', num_queries=20):
    """A tiny base detector config: DINO (DetrxCoDINOHead) or two-stage Deformable DETR."""
    cfg = dict(
        num_queries=num_queries, with_box_refine=True, as_two_stage=True, num_feature_levels=LEVELS,
        data_preprocessor=dict(type='DetDataPreprocessor'),
        # frozen: the backbone is not under test, and its backward would dominate the run time
        backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(1, 2, 3), frozen_stages=4,
                      norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, init_cfg=None),
        neck=dict(type='ChannelMapper', in_channels=[128, 256, 512], kernel_size=1, out_channels=E,
                  act_cfg=None, norm_cfg=dict(type='GN', num_groups=32), num_outs=LEVELS),
        encoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=_msda(),
                                                  ffn_cfg=dict(embed_dims=E, feedforward_channels=128))),
        decoder=dict(num_layers=2, return_intermediate=True, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=E, num_heads=8, dropout=0.0), cross_attn_cfg=_msda(),
            ffn_cfg=dict(embed_dims=E, feedforward_channels=128)), post_norm_cfg=None),
        positional_encoding=dict(num_feats=E // 2, normalize=True, offset=0.0, temperature=20),
        bbox_head=dict(num_classes=NUM_CLASSES, embed_dims=E, sync_cls_avg_factor=True,
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
                       loss_bbox=dict(type='L1Loss', loss_weight=5.0),
                       loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
        train_cfg=dict(assigner=dict(type='HungarianAssigner', match_costs=[
            dict(type='FocalLossCost', weight=2.0), dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0)])),
        test_cfg=dict(max_per_img=num_queries))
    if kind == 'dino':
        cfg.update(type='DINO', dn_cfg=dict(label_noise_scale=0.5, box_noise_scale=1.0,
                                            group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=10)))
        cfg['bbox_head']['type'] = 'DetrxCoDINOHead'
    else:
        cfg.update(type='DeformableDETR')
        cfg['positional_encoding'].update(offset=-0.5, temperature=10000)
        cfg['bbox_head']['type'] = 'DetrxCoDeformableDETRHead'
    return cfg


def _aux_cfgs(aux, E=E):
    """Auxiliary head configs for ``aux`` in ('none', 'atss', 'fcos', 'two-stage', 'all') on E channels."""
    atss = dict(type='DetrxCoATSSHead', num_classes=NUM_CLASSES, in_channels=E, stacked_convs=1, feat_channels=64,
                anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=8,
                                      scales_per_octave=1, strides=STRIDES),
                bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0] * 4, target_stds=[0.1, 0.1, 0.2, 0.2]),
                loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
                loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
                loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
                train_cfg=dict(assigner=dict(type='ATSSAssigner', topk=9), allowed_border=-1, pos_weight=-1,
                               debug=False),
                test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.6),
                              max_per_img=20))
    fcos = dict(type='DetrxCoFCOSHead', num_classes=NUM_CLASSES, in_channels=E, stacked_convs=1, feat_channels=64,
                strides=STRIDES, norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
                norm_on_bbox=True, centerness_on_reg=True, center_sampling=True,
                loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
                loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
                loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
                test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.6),
                              max_per_img=20))
    rpn = dict(type='RPNHead', in_channels=E, feat_channels=64,
               anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                                     ratios=[0.5, 1.0, 2.0], strides=STRIDES),
               bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[.0] * 4, target_stds=[1.0] * 4),
               loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
               loss_bbox=dict(type='L1Loss', loss_weight=1.0),
               train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3,
                                            match_low_quality=True, ignore_iof_thr=-1),
                              sampler=dict(type='RandomSampler', num=64, pos_fraction=0.5, neg_pos_ub=-1,
                                           add_gt_as_proposals=False),
                              allowed_border=-1, pos_weight=-1, debug=False),
               test_cfg=dict(nms_pre=200, max_per_img=50, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0))
    roi = dict(type='DetrxCoStandardRoIHead',
               bbox_roi_extractor=dict(type='SingleRoIExtractor',
                                       roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
                                       out_channels=E, featmap_strides=STRIDES[:LEVELS], finest_scale=56),
               bbox_head=dict(type='Shared2FCBBoxHead', in_channels=E, fc_out_channels=64, roi_feat_size=7,
                              num_classes=NUM_CLASSES, reg_class_agnostic=False, reg_decoded_bbox=True,
                              bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4,
                                              target_stds=[0.1, 0.1, 0.2, 0.2]),
                              loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                              loss_bbox=dict(type='GIoULoss', loss_weight=10.0)),
               train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                                            match_low_quality=False, ignore_iof_thr=-1),
                              sampler=dict(type='RandomSampler', num=64, pos_fraction=0.25, neg_pos_ub=-1,
                                           add_gt_as_proposals=True),
                              pos_weight=-1, debug=False),
               test_cfg=dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=20))
    out = dict(rpn_head=None, roi_head=[], bbox_head=[])
    if aux in ('two-stage', 'all'):
        out.update(rpn_head=rpn, roi_head=[roi])
    if aux in ('atss', 'all'):
        out['bbox_head'].append(atss)
    if aux in ('fcos', 'all'):
        out['bbox_head'].append(fcos)
    return out


def co_detr_cfg(aux='all', kind='dino', **kwargs):
    """A tiny DetrxCoDETR config around a DINO or Deformable DETR base."""
    cfg = dict(type='DetrxCoDETR', query_head=_base_cfg(kind), aux_head_loss_weight=2.0,
               train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=50, nms=dict(type='nms', iou_threshold=0.7),
                                                min_bbox_size=0)),
               **_aux_cfgs(aux))
    cfg.update(kwargs)
    return cfg


def make_batch(bs=2, h=64, w=96, seed=0):
    """Random images with a few fixed boxes per image (image 1 has one more box)."""
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(bs, 3, h, w, generator=g)
    boxes = torch.tensor([[6., 6., 40., 34.], [26., 20., 90., 62.], [50., 3., 70., 28.]])
    samples = []
    for i in range(bs):
        s = DetDataSample(metainfo=dict(img_shape=(h, w), batch_input_shape=(h, w), pad_shape=(h, w),
                                        ori_shape=(h, w), scale_factor=(1., 1.)))
        n = 2 + (i % 2)
        s.gt_instances = InstanceData(bboxes=boxes[:n].clone(), labels=torch.tensor([1, 3, 0])[:n])
        samples.append(s)
    return inputs, samples


def build(cfg, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg))
    model.init_weights()
    return model


def total_loss(losses):
    return sum((sum(v) if isinstance(v, (list, tuple)) else v) for k, v in losses.items() if 'loss' in k)


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    """One intra-op thread: on 2 shared cores, oversubscribed OpenMP threads make these small models ~50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def finite(losses):
    return all(torch.isfinite(t).all() for v in losses.values() for t in (v if isinstance(v, (list, tuple)) else [v]))


def run_aux_heads(model, inputs, samples):
    """Memory feature maps, auxiliary losses and per-group positives of one training forward."""
    img_feats = model.extract_feat(inputs)
    enc_in, enc_out, dec_in, _ = model._run_base(img_feats, samples)
    feats = model._memory_feature_maps(img_feats, enc_in, enc_out)
    losses, positives = model._aux_heads_loss(feats, samples)
    return feats, dec_in, losses, positives


def gt_index(gt_bboxes, gt_instances):
    """Index of the ground truth equal to each row of gt_bboxes (asserts every row is a ground truth)."""
    eq = (gt_bboxes[:, None, :] - gt_instances.bboxes[None]).abs().amax(-1) < 1e-3
    assert eq.any(1).all(), 'a positive target is not a ground-truth box'
    return eq.float().argmax(1)


# ---------------------------------------------------------------- layers
def test_memory_neck_reshapes_levels_and_adds_extra_level():
    neck = MODELS.build(dict(type='DetrxCoMemoryNeck', embed_dims=64))
    maps = [torch.randn(2, 64, h, w) for h, w in [(8, 12), (4, 6), (2, 3)]]
    memory = torch.cat([m.flatten(2).transpose(1, 2) for m in maps], dim=1)
    out = neck(memory, torch.tensor([[8, 12], [4, 6], [2, 3]]))
    assert len(out) == 4
    for got, want in zip(out, maps):
        assert torch.equal(got, want)
    assert out[3].shape == (2, 64, 1, 2)
    assert torch.allclose(out[3], neck.downsample(maps[-1]), atol=1e-5)


def _positives(n, seed, label_offset=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    priors = torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=g) * 50], dim=1)
    gts = priors + torch.randn(n, 4, generator=g)
    return InstanceData(priors=priors, gt_bboxes=gts, labels=(torch.arange(n) + label_offset) % NUM_CLASSES)


def test_pack_positive_queries_count_padding_and_targets():
    metas = [dict(img_shape=(120, 200)), dict(img_shape=(150, 160))]
    pos = [_positives(3, 0), _positives(12, 1)]
    group = pack_positive_queries(pos, metas, NUM_CLASSES, min_queries=9, max_queries=300)
    assert group.num_queries == 12  # the largest count, within [9, 300]
    assert group.valid.sum(1).tolist() == [3, 12]
    assert (group.labels[0, 3:] == NUM_CLASSES).all() and torch.equal(group.labels[0, :3], pos[0].labels)
    h, w = metas[0]['img_shape']
    x1, y1, x2, y2 = (pos[0].priors / torch.tensor([w, h, w, h])).unbind(-1)
    expected = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1).clamp(0, 1)
    assert torch.allclose(group.boxes[0, :3], expected)
    h, w = metas[1]['img_shape']
    gx1, gy1, gx2, gy2 = (pos[1].gt_bboxes / torch.tensor([w, h, w, h])).unbind(-1)
    assert torch.allclose(group.bbox_targets[1], torch.stack([(gx1 + gx2) / 2, (gy1 + gy2) / 2, gx2 - gx1,
                                                               gy2 - gy1], -1))
    assert (group.bbox_targets[0, 3:] == 0).all()

    # lower bound
    small = pack_positive_queries([_positives(1, 2), _positives(0, 3)], metas, NUM_CLASSES)
    assert small.num_queries == 9 and small.valid.sum(1).tolist() == [1, 0]
    # upper bound: a random subset of the positives, reproducible with the seed
    torch.manual_seed(0)
    big = pack_positive_queries([_positives(50, 4), _positives(7, 5)], metas, NUM_CLASSES, max_queries=20)
    torch.manual_seed(0)
    again = pack_positive_queries([_positives(50, 4), _positives(7, 5)], metas, NUM_CLASSES, max_queries=20)
    assert big.num_queries == 20 and big.valid.sum(1).tolist() == [20, 7]
    assert torch.equal(big.boxes, again.boxes)
    source = _positives(50, 4)
    h, w = metas[0]['img_shape']
    src_boxes = pack_positive_queries([source], metas[:1], NUM_CLASSES, max_queries=50).boxes[0]
    idx = ((big.boxes[0][:, None] - src_boxes[None]).abs().amax(-1) < 1e-6).float().argmax(1)
    assert len(set(idx.tolist())) == 20
    assert torch.equal(big.labels[0], source.labels[idx])


def test_self_attn_mask_isolates_padding():
    metas = [dict(img_shape=(100, 100))] * 2
    group = pack_positive_queries([_positives(2, 0), _positives(4, 1)], metas, NUM_CLASSES, min_queries=5)
    mask = group.self_attn_mask(num_heads=3)
    assert mask.shape == (6, 5, 5) and mask.dtype == torch.bool
    assert torch.equal(mask[0], mask[2]) and torch.equal(mask[3], mask[5])  # same for every head of an image
    allowed = ~mask[0]  # image 0: queries 0, 1 real; 2, 3, 4 padding
    assert allowed[:2, :2].all() and not allowed[:2, 2:].any()
    assert torch.equal(allowed[2:, :], torch.eye(5, dtype=torch.bool)[2:])
    allowed = ~mask[3]  # image 1: 4 real
    assert allowed[:4, :4].all() and not allowed[:4, 4].any()


# ---------------------------------------------------------------- training
@pytest.mark.parametrize('aux, num_groups', [('atss', 1), ('fcos', 1), ('two-stage', 1), ('all', 3)])
def test_loss_with_aux_heads(aux, num_groups):
    model = build(co_detr_cfg(aux))
    model.train()
    inputs, samples = make_batch()
    losses = model.loss(inputs, samples)
    assert {'loss_cls', 'loss_bbox', 'loss_iou', 'd0.loss_cls', 'enc_loss_cls', 'dn_loss_cls'} <= set(losses)
    assert ('loss_rpn_cls' in losses) == (aux in ('two-stage', 'all'))
    for k in range(num_groups):
        assert f'aux{k}.loss_cls' in losses and f'aux{k}.loss_bbox' in losses
        for name in ('loss_cls', 'loss_bbox', 'loss_iou', 'd0.loss_cls', 'd0.loss_bbox', 'd0.loss_iou'):
            assert f'aux{k}.q.{name}' in losses
    assert f'aux{num_groups}.loss_cls' not in losses
    assert finite(losses)
    # every query group has positives to learn from: its box losses are not zero
    assert all(float(losses[f'aux{k}.q.loss_iou']) > 0 for k in range(num_groups))

    # auxiliary heads are trained on the encoder memory: their losses reach the encoder, not the decoder;
    # the positive-query losses reach the decoder and the query generator
    head_loss = total_loss({k: v for k, v in losses.items() if k.startswith('aux') and '.q.' not in k})
    query_loss = total_loss({k: v for k, v in losses.items() if '.q.' in k})
    enc = [p for p in model.query_head.encoder.parameters()]
    dec = [p for p in model.query_head.decoder.parameters()]
    gen = list(model.query_generator.parameters())
    g_head = torch.autograd.grad(head_loss, enc + dec, allow_unused=True, retain_graph=True)
    assert any(g is not None and g.abs().sum() > 0 for g in g_head[:len(enc)])
    assert all(g is None or g.abs().sum() == 0 for g in g_head[len(enc):])
    g_query = torch.autograd.grad(query_loss, dec + gen, allow_unused=True)
    assert all(g is not None for g in g_query[len(dec):])
    assert sum(float(g.abs().sum()) for g in g_query[:len(dec)] if g is not None) > 0


def test_loss_with_images_without_objects():
    model = build(co_detr_cfg('all'))
    model.train()
    inputs, samples = make_batch()
    samples[1].gt_instances = samples[1].gt_instances[:0]
    losses = model.loss(inputs, samples)
    assert finite(losses) and float(losses['aux1.q.loss_iou']) > 0
    samples[0].gt_instances = samples[0].gt_instances[:0]
    losses = model.loss(inputs, samples)  # no positives at all: padded groups, zero query-group box losses
    assert finite(losses) and float(losses['aux1.q.loss_iou']) == 0
    total_loss(losses).backward()


def test_aux_heads_without_positive_queries():
    model = build(co_detr_cfg('atss', with_pos_queries=False))
    model.train()
    assert not hasattr(model, 'query_generator')
    losses = model.loss(*make_batch())
    assert 'aux0.loss_cls' in losses and not any('.q.' in k for k in losses)


def test_loss_without_aux_heads_equals_base_dino():
    cfg = co_detr_cfg('none')
    co = build(cfg)
    base_cfg = copy.deepcopy(cfg['query_head'])
    base_cfg['bbox_head']['type'] = 'DINOHead'
    dino = MODELS.build(Config(dict(m=base_cfg)).m)
    dino.load_state_dict(_as_base_state_dict(co), strict=True)
    co.train(), dino.train()
    inputs, samples = make_batch()
    torch.manual_seed(3)
    ours = co.loss(inputs, samples)
    torch.manual_seed(3)
    theirs = dino.loss(inputs, samples)
    assert set(ours) == set(theirs)
    for k in theirs:
        assert torch.allclose(ours[k], theirs[k], rtol=1e-5, atol=1e-6), k


def test_loss_weights_and_seed_determinism():
    inputs, samples = make_batch()
    plain = build(co_detr_cfg('atss', aux_head_loss_weight=1.0), seed=1)
    weighted = build(co_detr_cfg('atss', aux_head_loss_weight=3.0, aux_query_loss_weight=0.5), seed=1)
    plain_state, weighted_state = plain.state_dict(), weighted.state_dict()
    assert all(torch.equal(plain_state[k], weighted_state[k]) for k in plain_state)  # same seed, same init
    plain.train(), weighted.train()
    results = []
    for model in (plain, plain, weighted):
        torch.manual_seed(7)
        results.append({k: sum(v) if isinstance(v, list) else v for k, v in model.loss(inputs, samples).items()})
    ref, same, scaled = results
    for k in ref:
        assert torch.equal(ref[k], same[k]), k  # same seed, same losses
        factor = ((0.5 if '.q.' in k else 3.0) if k.startswith('aux') else 1.0) if 'loss' in k else 1.0
        assert torch.allclose(scaled[k], ref[k] * factor, rtol=1e-4, atol=1e-6), k


def test_losses_decrease_on_fixed_batch():
    model = build(co_detr_cfg('all'))
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=3e-4)
    inputs, samples = make_batch()
    history = []
    for _ in range(6):
        torch.manual_seed(0)  # same denoising noise and positive subsets every step
        losses = model.loss(inputs, samples)
        loss = total_loss(losses)
        optim.zero_grad()
        loss.backward()
        optim.step()
        history.append(dict(total=float(loss),
                            aux_heads=float(total_loss({k: v for k, v in losses.items()
                                                        if k.startswith('aux') and '.q.' not in k})),
                            aux_queries=float(total_loss({k: v for k, v in losses.items() if '.q.' in k}))))
    first, last = history[0], history[-1]
    assert last['total'] < 0.9 * first['total'], history
    assert last['aux_heads'] < 0.95 * first['aux_heads'], history
    assert last['aux_queries'] < 0.9 * first['aux_queries'], history
    assert all(b['total'] < a['total'] for a, b in zip(history, history[1:])), history


def test_bf16_autocast_loss_finite():
    model = build(co_detr_cfg('all'))
    model.train()
    dtypes = []
    model.query_head.decoder.register_forward_hook(lambda m, i, o: dtypes.append(o[0].dtype))
    inputs, samples = make_batch()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.loss(inputs, samples)
    assert torch.bfloat16 in dtypes  # the transformer really ran in bf16 (main pass and query groups)
    assert finite(losses)
    total_loss(losses).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# ---------------------------------------------------------------- positives of the auxiliary heads
@pytest.fixture(scope='module')
def aux_run():
    model = build(co_detr_cfg('all'))
    model.train()
    inputs, samples = make_batch()
    with torch.no_grad():
        feats, dec_in, losses, positives = run_aux_heads(model, inputs, samples)
    return model, samples, feats, dec_in, positives


def test_roi_positives_are_assigned_proposals(aux_run):
    model, samples, _, _, positives = aux_run
    for pos, sample in zip(positives[0], samples):
        gt = sample.gt_instances
        assert len(pos) >= len(gt)  # the ground truths are added as proposals
        idx = gt_index(pos.gt_bboxes, gt)
        assert torch.equal(pos.labels, gt.labels[idx])
        ious = bbox_overlaps(pos.priors, pos.gt_bboxes, is_aligned=True)
        assert (ious >= 0.5 - 1e-4).all()  # rcnn pos_iou_thr


def test_atss_positives_match_atss_targets(aux_run):
    model, samples, feats, _, positives = aux_run
    head = model.bbox_head[0]
    metas = [s.metainfo for s in samples]
    anchors, flags = head.get_anchors([f.shape[-2:] for f in feats], metas, device=feats[0].device)
    targets = ATSSHead.get_targets(head, anchors, flags, [s.gt_instances for s in samples], metas)  # mmdet's own
    labels = torch.cat(targets[1], dim=1)
    for i, (pos, sample) in enumerate(zip(positives[1], samples)):
        assert len(pos) == int((labels[i] < NUM_CLASSES).sum()) > 0
        idx = gt_index(pos.gt_bboxes, sample.gt_instances)
        assert torch.equal(pos.labels, sample.gt_instances.labels[idx])
        wh = pos.priors[:, 2:] - pos.priors[:, :2]
        assert torch.allclose(wh[:, 0], wh[:, 1])
        assert set(torch.round(wh[:, 0]).long().tolist()) <= {8 * s for s in STRIDES}  # octave_base_scale=8


def test_fcos_positives_are_point_boxes_inside_their_gt(aux_run):
    model, samples, feats, _, positives = aux_run
    head = model.bbox_head[1]
    points = head.prior_generator.grid_priors([f.shape[-2:] for f in feats], device=feats[0].device)
    labels, _ = FCOSHead.get_targets(head, points, [s.gt_instances for s in samples])  # mmdet's own targets
    num_pos = sum(int((lvl.view(len(samples), -1) < NUM_CLASSES).sum(1)[0]) for lvl in labels)
    assert len(positives[2][0]) == num_pos
    for pos, sample in zip(positives[2], samples):
        assert len(pos) > 0
        idx = gt_index(pos.gt_bboxes, sample.gt_instances)
        assert torch.equal(pos.labels, sample.gt_instances.labels[idx])
        wh = pos.priors[:, 2:] - pos.priors[:, :2]
        assert torch.allclose(wh[:, 0], wh[:, 1])
        assert set(torch.round(wh[:, 0]).long().tolist()) <= {8 * s for s in STRIDES}
        centers = (pos.priors[:, :2] + pos.priors[:, 2:]) / 2
        assert ((centers > pos.gt_bboxes[:, :2]) & (centers < pos.gt_bboxes[:, 2:])).all()


def test_padding_queries_do_not_change_real_queries(aux_run):
    model, samples, feats, dec_in, _ = aux_run
    metas = [s.metainfo for s in samples]
    group = pack_positive_queries([_positives(2, 0), _positives(5, 1)], metas, NUM_CLASSES, min_queries=9)
    with torch.no_grad():
        out = model.decode_query_group(group, model.query_generator(group.boxes, 0, feats, metas), dec_in)
        moved = copy.deepcopy(group)
        moved.boxes[~moved.valid] = torch.rand(int((~moved.valid).sum()), 4) * 0.5 + 0.25
        out_moved = model.decode_query_group(moved, model.query_generator(moved.boxes, 0, feats, metas), dec_in)
        unmasked = copy.deepcopy(moved)
        unmasked.valid[:] = True
        out_unmasked = model.decode_query_group(unmasked, model.query_generator(unmasked.boxes, 0, feats, metas),
                                                dec_in)
    valid = group.valid
    real, real_moved = out['hidden_states'][:, valid], out_moved['hidden_states'][:, valid]
    assert torch.allclose(real, real_moved, atol=1e-5)
    assert not torch.allclose(out['hidden_states'][:, ~valid], out_moved['hidden_states'][:, ~valid], atol=1e-3)
    # without the mask the same change would leak into the real queries
    assert not torch.allclose(real, out_unmasked['hidden_states'][:, valid], atol=1e-3)


# ---------------------------------------------------------------- inference
def _as_base_state_dict(co_model):
    """The state dict of the wrapped base detector, with backbone and neck back in it."""
    out = dict()
    for k, v in co_model.state_dict().items():
        if k.startswith(('backbone.', 'neck.')):
            out[k] = v
        elif k.startswith('query_head.'):
            out[k[len('query_head.'):]] = v
    return out


@pytest.mark.parametrize('kind, base_head', [('dino', 'DINOHead'), ('deformable', 'DeformableDETRHead')])
def test_predict_default_equals_base_detector(kind, base_head):
    cfg = co_detr_cfg('all', kind)
    co = build(cfg)
    base_cfg = copy.deepcopy(cfg['query_head'])
    base_cfg['bbox_head']['type'] = base_head
    base = MODELS.build(Config(dict(m=base_cfg)).m)
    base.load_state_dict(_as_base_state_dict(co), strict=True)
    # Co-DETR switches its base's deformable attention to the level-sum CPU path (same function, another
    # summation order): bitwise equality needs the same module in the plain base
    from mmdet_detrx.models.layers.deform_attn_cpu import use_level_sum_deformable_attn
    assert use_level_sum_deformable_attn(base) > 0
    co.eval(), base.eval()
    calls = []
    for name in ('memory_neck', 'query_generator', 'rpn_head'):
        getattr(co, name).register_forward_hook(lambda *a, n=name: calls.append(n))
    for head in list(co.roi_head) + list(co.bbox_head):
        head.register_forward_hook(lambda *a: calls.append('aux'))
    inputs, samples = make_batch()
    with torch.no_grad():
        ours = co.predict(inputs, copy.deepcopy(samples))
        theirs = base.predict(inputs, copy.deepcopy(samples))
    assert calls == []  # no auxiliary branch runs at test time
    for a, b in zip(ours, theirs):
        assert len(a.pred_instances) == 20
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(a.pred_instances[key], b.pred_instances[key]), key


def test_loss_and_predict_with_deformable_detr_base():
    model = build(co_detr_cfg('all', 'deformable'))
    model.train()
    inputs, samples = make_batch()
    losses = model.loss(inputs, samples)
    assert finite(losses) and {'aux0.q.loss_cls', 'aux2.q.d0.loss_iou', 'enc_loss_cls'} <= set(losses)
    assert model.query_generator.out_channels == 2 * E  # split into positional and content queries


@pytest.mark.parametrize('eval_module, eval_index', [('one-stage', 0), ('one-stage', 1), ('two-stage', 0)])
def test_predict_with_auxiliary_head(aux_run, eval_module, eval_index):
    model = aux_run[0]
    model.eval()
    model.test_cfg.update(eval_module=eval_module, eval_index=eval_index)
    inputs, samples = make_batch()
    try:
        with torch.no_grad():
            results = model.predict(inputs, copy.deepcopy(samples))
            head_inputs = model.query_head.forward_transformer(model.extract_feat(inputs), samples)
    finally:
        model.test_cfg.update(eval_module='detr', eval_index=0)
        model.train()
    del head_inputs
    for res in results:
        pred = res.pred_instances
        assert 0 < len(pred) <= 20
        assert (pred.bboxes[:, 2:] >= pred.bboxes[:, :2]).all()
        assert (pred.bboxes[:, 2] <= 96 + 1e-3).all() and (pred.bboxes[:, 3] <= 64 + 1e-3).all()
        assert ((pred.labels >= 0) & (pred.labels < NUM_CLASSES)).all()


def test_eval_module_is_validated():
    with pytest.raises(AssertionError, match="eval_module must be one of \\('detr', 'one-stage', 'two-stage'\\)"):
        MODELS.build(co_detr_cfg('atss', test_cfg=dict(eval_module='rpn')))


# ---------------------------------------------------------------- Co-Conditional-DETR
EC = 64  # our Conditional DETR sizes its sine embeddings from embed_dims


def _cond_detr_cfg(num_queries=12):
    """A tiny CondDETR (plain CondDETRHead) on the stride-32 R18 level."""
    ffn = dict(embed_dims=EC, feedforward_channels=128, num_fcs=2, ffn_drop=0.0)
    attn = dict(embed_dims=EC, num_heads=4, attn_drop=0.0, proj_drop=0.0)
    return dict(
        type='CondDETR', num_queries=num_queries, data_preprocessor=dict(type='DetDataPreprocessor'),
        backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ), frozen_stages=4,
                      norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, init_cfg=None),
        neck=dict(type='ChannelMapper', in_channels=[512], kernel_size=1, out_channels=EC, act_cfg=None,
                  norm_cfg=None, num_outs=1),
        encoder=dict(num_layers=1, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=EC, num_heads=4, dropout=0.0, batch_first=True), ffn_cfg=ffn)),
        decoder=dict(num_layers=2, return_intermediate=True,
                     layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn)),
        positional_encoding=dict(num_feats=EC // 2, normalize=True),
        bbox_head=dict(type='CondDETRHead', num_classes=NUM_CLASSES, embed_dims=EC,
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                       loss_bbox=dict(type='L1Loss', loss_weight=5.0),
                       loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
        train_cfg=dict(assigner=dict(type='BatchedHungarianAssigner', match_costs=[
            dict(type='FocalLossCost', weight=2.0), dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0)])),
        test_cfg=dict(max_per_img=num_queries))


def co_cond_detr_cfg(aux='all', **kwargs):
    """A tiny DetrxCoDETR around CondDETR: memory pyramid strides 8..128 from the stride-32 memory."""
    cfg = dict(type='DetrxCoDETR', query_head=_cond_detr_cfg(), aux_head_loss_weight=2.0,
               memory_neck=dict(type='DetrxCoMemoryNeck', num_upsample_levels=2, num_extra_levels=2),
               train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=50, nms=dict(type='nms', iou_threshold=0.7),
                                                min_bbox_size=0)),
               **_aux_cfgs(aux, E=EC))
    cfg.update(kwargs)
    return cfg


def test_memory_neck_upsamples_single_level():
    neck = MODELS.build(dict(type='DetrxCoMemoryNeck', embed_dims=64, num_upsample_levels=2, num_extra_levels=2))
    level = torch.randn(2, 64, 3, 5)
    out = neck(level.flatten(2).transpose(1, 2), [(3, 5)])
    assert [tuple(o.shape[-2:]) for o in out] == [(12, 20), (6, 10), (3, 5), (2, 3), (1, 2)]
    assert torch.equal(out[2], level)
    up = torch.nn.functional.interpolate(level, scale_factor=2.0, mode='bilinear', align_corners=False)
    assert torch.allclose(out[1], neck.upsample[0](up), atol=1e-5)
    assert torch.allclose(out[3], neck.downsample[0](level), atol=1e-5)


def test_co_conditional_detr_loss():
    model = build(co_cond_detr_cfg('all'))
    assert type(model.query_decoder).__name__ == 'ConditionalQueryDecoder'
    assert model.query_generator.out_channels == 2 * EC
    model.train()
    inputs, samples = make_batch()
    losses = model.loss(inputs, samples)
    assert {'loss_cls', 'loss_bbox', 'loss_iou', 'd0.loss_cls', 'loss_rpn_cls'} <= set(losses)
    for k in range(3):
        assert {f'aux{k}.loss_cls', f'aux{k}.q.loss_cls', f'aux{k}.q.d0.loss_iou'} <= set(losses)
        assert float(losses[f'aux{k}.q.loss_iou']) > 0
    assert finite(losses)
    query_loss = total_loss({k: v for k, v in losses.items() if '.q.' in k})
    grads = torch.autograd.grad(query_loss, list(model.query_generator.parameters()) +
                                list(model.query_head.decoder.parameters()), allow_unused=True)
    assert all(g is not None for g in grads[:len(list(model.query_generator.parameters()))])


def test_co_conditional_detr_query_group_uses_fixed_targets():
    """The group is decoded with the box centres as reference points and trained on its own assignment."""
    model = build(co_cond_detr_cfg('atss'))
    model.train()
    inputs, samples = make_batch()
    metas = [s.metainfo for s in samples]
    img_feats = model.extract_feat(inputs)
    enc_in, enc_out, dec_in, _ = model._run_base(img_feats, samples)
    feats = model._memory_feature_maps(img_feats, enc_in, enc_out)
    group = pack_positive_queries([_positives(2, 0), _positives(5, 1)], metas, NUM_CLASSES, min_queries=9)
    out = model.decode_query_group(group, model.query_generator(group.boxes, 0, feats, metas), dec_in)
    assert out['hidden_states'].shape == (2, 2, 9, EC)
    assert torch.equal(out['references'], group.boxes[..., :2])
    head = model.query_head.bbox_head
    cls, boxes = head(**out)
    # a prediction equal to its fixed target has no box loss; padding never counts
    perfect = torch.where(group.valid[None, ..., None], group.bbox_targets[None].expand_as(boxes), boxes.detach())
    targets = group_layer_targets(group, 2, NUM_CLASSES)
    assert targets.num_pos.tolist() == [7, 7] and targets.num_neg.tolist() == [0, 0]
    _, l1, iou = head.loss_by_targets(cls, perfect, targets, metas)
    assert torch.allclose(l1, torch.zeros(2), atol=1e-6) and torch.allclose(iou, torch.zeros(2), atol=1e-5)
    _, l1, _ = head.loss_by_targets(cls, boxes, targets, metas)
    assert (l1 > 0).all()


def test_co_conditional_detr_losses_decrease_on_fixed_batch():
    model = build(co_cond_detr_cfg('all'))
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=3e-4)
    inputs, samples = make_batch()
    history = []
    for _ in range(6):
        torch.manual_seed(0)
        losses = model.loss(inputs, samples)
        loss = total_loss(losses)
        optim.zero_grad()
        loss.backward()
        optim.step()
        history.append((float(loss), float(total_loss({k: v for k, v in losses.items() if '.q.' in k}))))
    assert history[-1][0] < 0.9 * history[0][0], history
    assert history[-1][1] < 0.9 * history[0][1], history


def test_co_conditional_detr_predict_equals_cond_detr():
    cfg = co_cond_detr_cfg('all')
    co = build(cfg)
    base = MODELS.build(Config(dict(m=cfg['query_head'])).m)
    base.load_state_dict(_as_base_state_dict(co), strict=True)
    co.eval(), base.eval()
    calls = []
    for module in [co.memory_neck, co.query_generator, co.rpn_head, *co.roi_head, *co.bbox_head]:
        module.register_forward_hook(lambda *a: calls.append(1))
    inputs, samples = make_batch()
    with torch.no_grad():
        ours = co.predict(inputs, copy.deepcopy(samples))
        theirs = base.predict(inputs, copy.deepcopy(samples))
    assert calls == []
    for a, b in zip(ours, theirs):
        assert len(a.pred_instances) == 12
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(a.pred_instances[key], b.pred_instances[key]), key


# ---------------------------------------------------------------- benchmark subcommand co-detr-inference
def _bench_module(name):
    return importlib.import_module(f'tools.bench.{name}')


@pytest.mark.parametrize('make_cfg', [lambda: co_detr_cfg('all'), lambda: co_cond_detr_cfg('atss')],
                         ids=['co-dino', 'co-conditional-detr'])
def test_inference_benchmark_core_detections_identical(make_cfg):
    bench = _bench_module('co_detr_inference')
    cfg = Config(dict(model=make_cfg())).model
    cfg.query_head.test_cfg.nms = dict(type='soft_nms', iou_threshold=0.8)  # removed for the comparison
    inputs, samples = make_batch()
    result = bench.compare_inference(cfg, inputs, samples, repeats=1, warmup=0)
    assert result['identical'] and min(result['num_detections']) > 0
    assert set(result['times']) == {'co-detr', 'base'} and all(len(t) == 1 for t in result['times'].values())
    # the check has teeth: other weights give other detections
    co, base = bench.build_pair(cfg, seed=0)
    _, other = bench.build_pair(cfg, seed=1)
    with torch.no_grad():
        a = co.predict(inputs, copy.deepcopy(samples))
        b = other.predict(inputs, copy.deepcopy(samples))
    assert not bench.same_detections(a, b)


def test_training_benchmark_checks_source_and_patches_only_cuda_indices(tmp_path):
    bench = _bench_module('co_detr')
    with pytest.raises(SystemExit, match='not a directory'):
        bench.find_reference(str(tmp_path / 'missing'))
    with pytest.raises(SystemExit, match='lacks projects/CO-DETR'):
        bench.find_reference(str(tmp_path))
    source = ('x = 1\n'
              'idx = torch.randperm(\n    pos_inds.shape[0])[:max_num_coords].cuda()\n'
              'other = torch.randperm(neg_inds.shape[0])[:padding_shape].cuda()\n')
    patched, changes = bench.patch_for_cpu(source)
    assert len(changes) == 2 and '.cuda()' not in patched
    assert 'torch.randperm(\n    pos_inds.shape[0])[:max_num_coords].to(pos_inds.device)' in patched
    assert patched.startswith('x = 1\n')


# ---------------------------------------------------------------- checkpoints of mmdet's projects/CO-DETR
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


# ---------------------------------------------------------------- speed paths: same math as mmcv / mmdet
def _random_rois(num, img_size, num_imgs, seed=0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(num, 2, generator=g) * img_size
    wh = torch.rand(num, 2, generator=g) ** 2 * img_size * 0.8
    boxes = torch.cat([xy - wh / 2, xy + wh / 2], 1)
    # whole image and beyond, a corner, zero size, fully outside, a thin full-width strip
    s = float(img_size)
    boxes[:5] = torch.tensor([[-30., -30., s + 40, s + 40], [s - 6, s - 6, s - 1, s - 1], [10., 10., 10., 10.],
                              [-50., 5., -20., 40.], [0., 0., s, 5.]])
    return torch.cat([torch.randint(0, num_imgs, (num, 1), generator=g).float(), boxes], 1)


@pytest.mark.parametrize('sampling_ratio,aligned', [(0, True), (0, False), (2, True)])
def test_gather_roi_align_equals_mmcv(sampling_ratio, aligned):
    from mmcv.ops import roi_align
    from mmdet_detrx.models.layers.gather_roi_align import gather_roi_align
    torch.manual_seed(0)
    feat = torch.randn(2, 16, 20, 24, requires_grad=True)
    rois = _random_rois(60, 80, 2)
    grad_out = torch.randn(60, 16, 7, 7)
    outs, grads = [], []
    for fn in (roi_align, gather_roi_align):
        feat.grad = None
        if fn is roi_align:
            out = fn(feat, rois, (7, 7), 0.25, sampling_ratio, 'avg', aligned)
        else:
            out = fn(feat, rois, (7, 7), 0.25, sampling_ratio, aligned)
        (out * grad_out).sum().backward()
        outs.append(out.detach())
        grads.append(feat.grad.clone())
    assert outs[0].abs().sum() > 0 and grads[0].abs().sum() > 0
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-5)
    assert (outs[1][3] == 0).all()  # the RoI outside the image pools nothing, as in mmcv


def test_gather_roi_align_rejects_bad_input():
    from mmdet_detrx.models.layers.gather_roi_align import gather_roi_align
    with pytest.raises(ValueError, match='rois'):
        gather_roi_align(torch.randn(1, 4, 8, 8), torch.zeros(3, 4), (7, 7), 1.0)
    with pytest.raises(ValueError, match='x2 >= x1'):
        gather_roi_align(torch.randn(1, 4, 8, 8), torch.tensor([[0., 5., 5., 2., 8.]]), (7, 7), 1.0)
    assert gather_roi_align(torch.randn(1, 4, 8, 8), torch.zeros(0, 5), (7, 7), 1.0).shape == (0, 4, 7, 7)


def test_roi_head_uses_gather_roi_align_with_mmcv_results():
    from mmcv.ops import RoIAlign
    from mmdet_detrx.models.layers.gather_roi_align import DetrxGatherRoIAlign
    from mmengine.config import ConfigDict
    cfg = ConfigDict(_aux_cfgs('two-stage')['roi_head'][0])
    fast = MODELS.build(copy.deepcopy(cfg))
    plain = MODELS.build(ConfigDict(copy.deepcopy(cfg), cpu_gather_roi_align=False))
    assert all(type(layer) is DetrxGatherRoIAlign for layer in fast.bbox_roi_extractor.roi_layers)
    assert all(type(layer) is RoIAlign for layer in plain.bbox_roi_extractor.roi_layers)
    assert fast.state_dict().keys() == plain.state_dict().keys()
    torch.manual_seed(0)
    feats = tuple(torch.randn(2, E, 64 // s, 96 // s) for s in STRIDES[:LEVELS])
    rois = _random_rois(40, 64, 2, seed=1)
    rois[:, 1:] = rois[:, 1:].clamp(0, 64)
    rois[:, 3:] = torch.maximum(rois[:, 3:], rois[:, 1:3])
    torch.testing.assert_close(fast.bbox_roi_extractor(feats, rois), plain.bbox_roi_extractor(feats, rois),
                               rtol=1e-5, atol=1e-5)


def _deform_attn_inputs(bs=2, num_queries=30, num_heads=4, head_dims=8, points=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    shapes = torch.tensor([[10, 12], [5, 6], [3, 3]])
    num_value = int((shapes[:, 0] * shapes[:, 1]).sum())
    value = torch.randn(bs, num_value, num_heads, head_dims, generator=g)
    # some locations outside [0, 1]: zero padding must match
    locations = torch.rand(bs, num_queries, num_heads, 3, points, 2, generator=g) * 1.3 - 0.15
    weights = torch.rand(bs, num_queries, num_heads, 3, points, generator=g).softmax(-1)
    return value, shapes, locations, weights


def test_deformable_attn_level_sum_equals_mmcv():
    from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch
    from mmdet_detrx.models.layers.deform_attn_cpu import deformable_attn_level_sum
    inputs = _deform_attn_inputs()
    grad_out = torch.randn(2, 30, 32)
    results = []
    for fn in (multi_scale_deformable_attn_pytorch, deformable_attn_level_sum):
        value, shapes, locations, weights = [t.clone().requires_grad_(t.is_floating_point()) for t in inputs]
        out = fn(value, shapes, locations, weights)
        (out * grad_out).sum().backward()
        results.append([out.detach(), value.grad, locations.grad, weights.grad])
    for ours, ref in zip(*reversed(results)):
        assert ref.abs().sum() > 0
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match='spatial_shapes'):
        deformable_attn_level_sum(inputs[0][:, :-1], *inputs[1:])


@pytest.mark.parametrize('batch_first,ref_dims', [(True, 2), (False, 4)])
def test_level_sum_deformable_attn_module_equals_mmcv(batch_first, ref_dims):
    from mmcv.ops import MultiScaleDeformableAttention
    from mmdet_detrx.models.layers.deform_attn_cpu import DetrxMSDeformAttn, use_level_sum_deformable_attn
    torch.manual_seed(0)
    ref = MultiScaleDeformableAttention(32, num_heads=4, num_levels=3, num_points=3, dropout=0.0,
                                       batch_first=batch_first)
    torch.nn.init.normal_(ref.sampling_offsets.weight, std=0.3)  # locations that leave the maps too
    ours = copy.deepcopy(ref)
    holder = torch.nn.Sequential(ours)
    assert use_level_sum_deformable_attn(holder) == 1 and type(holder[0]) is DetrxMSDeformAttn
    assert ours.state_dict().keys() == ref.state_dict().keys()
    shapes = torch.tensor([[10, 12], [5, 6], [3, 3]])
    starts = torch.tensor([0, 120, 150])
    query, value = torch.randn(2, 20, 32), torch.randn(2, 159, 32)
    if not batch_first:
        query, value = query.transpose(0, 1), value.transpose(0, 1)
    ref_points = torch.rand(2, 20, 3, ref_dims)
    mask = torch.zeros(2, 159, dtype=torch.bool)
    mask[1, -20:] = True
    results = []
    for module in (ref, ours):
        q, v = query.clone().requires_grad_(), value.clone().requires_grad_()
        out = module(q, value=v, query_pos=torch.ones_like(q), key_padding_mask=mask, reference_points=ref_points,
                     spatial_shapes=shapes, level_start_index=starts)
        out.square().sum().backward()
        results.append([out.detach(), q.grad, v.grad] + [p.grad.clone() for p in module.parameters()])
        module.zero_grad()
    for a, b in zip(*results):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-4)


def test_fast_cpu_paths_give_the_same_losses_and_gradients():
    """Co-DINO with the level-sum deformable attention and the gather RoIAlign (defaults) equals the model
    with mmcv's CPU paths: same losses, same gradients (up to float summation order)."""
    from mmcv.ops import MultiScaleDeformableAttention, RoIAlign
    from mmdet_detrx.models.layers.deform_attn_cpu import DetrxMSDeformAttn
    from mmdet_detrx.models.layers.gather_roi_align import DetrxGatherRoIAlign
    fast = build(co_detr_cfg('all'))
    plain_cfg = co_detr_cfg('all', cpu_level_sum_attention=False)
    plain_cfg['roi_head'][0]['cpu_gather_roi_align'] = False
    plain = build(plain_cfg, seed=1)
    plain.load_state_dict(fast.state_dict())
    kinds = [{type(m) for m in model.modules()} for model in (fast, plain)]
    assert DetrxMSDeformAttn in kinds[0] and DetrxGatherRoIAlign in kinds[0]
    assert MultiScaleDeformableAttention in kinds[1] and RoIAlign in kinds[1]
    assert not {DetrxMSDeformAttn, DetrxGatherRoIAlign} & kinds[1]
    inputs, samples = make_batch()
    losses = []
    for model in (fast, plain):
        model.train()
        torch.manual_seed(0)
        loss = model.loss(inputs, copy.deepcopy(samples))
        total_loss(loss).backward()
        losses.append(loss)
    assert losses[0].keys() == losses[1].keys()
    for key in losses[0]:
        torch.testing.assert_close(losses[0][key], losses[1][key], rtol=1e-4, atol=1e-5, msg=key)
    grads = [dict((n, p.grad) for n, p in model.named_parameters() if p.grad is not None) for model in (fast, plain)]
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 50
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-3, atol=1e-5, msg=name)


def test_roi_align_inputs_any_layout_and_memory_maps_contiguous():
    """mmcv 2.1's RoIAlign reads a transposed view's buffer as NCHW (wrong features): the memory neck returns
    contiguous maps (as the reference Co-DINO) and our RoIAlign gives the same result for any layout."""
    from mmcv.ops import roi_align
    from mmdet_detrx.models.layers.gather_roi_align import DetrxGatherRoIAlign
    neck = MODELS.build(dict(type='DetrxCoMemoryNeck', embed_dims=32, norm_cfg=dict(type='GN', num_groups=8)))
    maps = neck(torch.randn(2, 8 * 12 + 4 * 6, 32), [(8, 12), (4, 6)])
    assert all(m.is_contiguous() for m in maps)
    feat = torch.randn(2, 10, 12, 32).permute(0, 3, 1, 2)  # channels-last view, (2, 32, 10, 12)
    rois = _random_rois(30, 48, 2, seed=2)
    expected = roi_align(feat.contiguous(), rois, (7, 7), 0.25, 0, 'avg', True)
    layer = DetrxGatherRoIAlign((7, 7), spatial_scale=0.25)
    torch.testing.assert_close(layer(feat, rois), expected, rtol=1e-5, atol=1e-5)
    layer.pool_mode = 'max'  # mmcv's kernel, given a contiguous copy
    torch.testing.assert_close(layer(feat, rois), roi_align(feat.contiguous(), rois, (7, 7), 0.25, 0, 'max', True))


def test_shared_value_projection_runs_once_per_memory_and_layer():
    """Inside DetrxCoDETR.loss each decoder cross-attention projects the memory once for the base queries and
    every positive query group (the equality of losses and gradients is tested above)."""
    from mmdet_detrx.models.layers.deform_attn_cpu import DetrxMSDeformAttn
    model = build(co_detr_cfg('all'))
    model.train()
    calls = {}
    for name, module in model.query_head.named_modules():
        if isinstance(module, DetrxMSDeformAttn):
            module.value_proj.register_forward_hook(lambda *a, n=name: calls.__setitem__(n, calls.get(n, 0) + 1))
    inputs, samples = make_batch()
    model.loss(inputs, copy.deepcopy(samples))
    cross = {n: c for n, c in calls.items() if n.startswith('decoder.')}
    assert len(cross) == 2 and set(cross.values()) == {1}  # 4 passes (base + 3 groups), one projection each
    assert all(c == 1 for n, c in calls.items() if n.startswith('encoder.'))
    assert all(m._value_cache is None for m in model.modules() if isinstance(m, DetrxMSDeformAttn))
