"""Tiny Co-DETR models and batches shared by the Co-DETR tests (CPU, a few seconds each)."""
import copy
import os.path as osp

import torch
from mmengine.structures import InstanceData

import mmdet_detrx  # noqa: F401  (registers the modules)
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules


register_all_modules(init_default_scope=True)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
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


def aux_cfgs(aux, E=E):
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
               **aux_cfgs(aux))
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


def finite(losses):
    return all(torch.isfinite(t).all() for v in losses.values() for t in (v if isinstance(v, (list, tuple)) else [v]))


def run_aux_heads(model, inputs, samples):
    """Memory feature maps, auxiliary losses and per-group positives of one training forward."""
    img_feats = model.extract_feat(inputs)
    enc_in, enc_out, dec_in, _ = model.run_base(img_feats, samples)
    feats = model.memory_feature_maps(img_feats, enc_in, enc_out)
    losses, positives = model.aux_heads_loss(feats, samples)
    return feats, dec_in, losses, positives


def gt_index(gt_bboxes, gt_instances):
    """Index of the ground truth equal to each row of gt_bboxes (asserts every row is a ground truth)."""
    eq = (gt_bboxes[:, None, :] - gt_instances.bboxes[None]).abs().amax(-1) < 1e-3
    assert eq.any(1).all(), 'a positive target is not a ground-truth box'
    return eq.float().argmax(1)


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
               **aux_cfgs(aux, E=EC))
    cfg.update(kwargs)
    return cfg


def random_positives(n, seed, label_offset=0):
    """n random positive boxes of an auxiliary head: ``priors``, their ``gt_bboxes`` and ``labels``."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 100
    priors = torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=g) * 50], dim=1)
    gts = priors + torch.randn(n, 4, generator=g)
    return InstanceData(priors=priors, gt_bboxes=gts, labels=(torch.arange(n) + label_offset) % NUM_CLASSES)


def as_base_state_dict(co_model):
    """The state dict of the wrapped base detector, with backbone and neck back in it."""
    out = dict()
    for k, v in co_model.state_dict().items():
        if k.startswith(('backbone.', 'neck.')):
            out[k] = v
        elif k.startswith('query_head.'):
            out[k[len('query_head.'):]] = v
    return out


def train_on_fixed_batch(model, steps=6):
    """AdamW steps on ``make_batch()`` with a fixed seed per step; per step the total loss, the auxiliary heads'
    losses and the positive query groups' losses (``.q.`` keys)."""
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=3e-4)
    inputs, samples = make_batch()
    history = []
    for _ in range(steps):
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
    return history
