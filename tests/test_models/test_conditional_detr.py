"""Detector- and head-level tests of Conditional DETR (CondDETR / CondDETRHead) and ModularDETR."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData

import mmdet_detrx  # noqa: F401
from mmdet.models.layers import ConditionalDetrTransformerDecoder
from mmdet.models.task_modules.assigners import HungarianAssigner
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NUM_CLASSES = 5
MATCH_COSTS = [
    dict(type='FocalLossCost', weight=2.0),
    dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
    dict(type='IoUCost', iou_mode='giou', weight=2.0)
]


@pytest.fixture(scope='module', autouse=True)
def mmdet_scope():
    register_all_modules(init_default_scope=True)


def model_cfg(detector='CondDETR', head='CondDETRHead', embed_dims=256, num_queries=10, dec_layers=2,
              assigner='HungarianAssigner', num_heads=8):
    """Tiny Conditional DETR (ResNet-18, 1 encoder layer, no dropout); mmdet needs embed_dims=256."""
    ffn = dict(embed_dims=embed_dims, feedforward_channels=128, num_fcs=2, ffn_drop=0.0,
               act_cfg=dict(type='ReLU', inplace=True))
    return dict(
        type=detector,
        num_queries=num_queries,
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=1),
        backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ), frozen_stages=1,
                      norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch', init_cfg=None),
        neck=dict(type='ChannelMapper', in_channels=[512], kernel_size=1, out_channels=embed_dims, act_cfg=None,
                  norm_cfg=None, num_outs=1),
        encoder=dict(num_layers=1, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=num_heads, dropout=0.0, batch_first=True),
            ffn_cfg=ffn)),
        decoder=dict(num_layers=dec_layers, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=num_heads, attn_drop=0.0, cross_attn=False),
            cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=num_heads, attn_drop=0.0, cross_attn=True),
            ffn_cfg=ffn), return_intermediate=True),
        positional_encoding=dict(num_feats=embed_dims // 2, normalize=True),
        bbox_head=dict(type=head, num_classes=NUM_CLASSES, embed_dims=embed_dims,
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                       loss_bbox=dict(type='L1Loss', loss_weight=5.0),
                       loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
        train_cfg=dict(assigner=dict(type=assigner, match_costs=copy.deepcopy(MATCH_COSTS))),
        test_cfg=dict(max_per_img=20))


def make_batch(seed=0, shapes=((64, 64), (48, 56)), num_gts=(2, 3)):
    """Two images padded to 64x64 (the second has padding) with random gt boxes."""
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(len(shapes), 3, 64, 64, generator=gen)
    samples = []
    for (h, w), n in zip(shapes, num_gts):
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), batch_input_shape=(64, 64), ori_shape=(h, w),
                                             scale_factor=(1., 1.)))
        xy = torch.rand(n, 2, generator=gen) * torch.tensor([w, h]) * 0.6
        wh = torch.rand(n, 2, generator=gen) * torch.tensor([w, h]) * 0.35 + 4
        gt = InstanceData()
        gt.bboxes = torch.cat([xy, xy + wh], dim=1)
        gt.labels = torch.randint(0, NUM_CLASSES, (n, ), generator=gen)
        sample.gt_instances = gt
        samples.append(sample)
    return inputs, samples


def build_pair(**kwargs):
    """mmdet's ConditionalDETR (random init) and ours with mmdet's state dict loaded strictly."""
    torch.manual_seed(0)
    ref = MODELS.build(model_cfg('ConditionalDETR', 'ConditionalDETRHead', **kwargs))
    ours = MODELS.build(model_cfg(**kwargs))
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


def test_state_dict_compatible_and_predictions_losses_grads_equal_mmdet():
    ref, ours = build_pair()
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert all(ours.state_dict()[k].shape == v.shape for k, v in ref.state_dict().items())
    inputs, samples = make_batch()

    ref.eval(), ours.eval()
    with torch.no_grad():
        preds_ref = ref.predict(inputs, copy.deepcopy(samples))
        preds = ours.predict(inputs, copy.deepcopy(samples))
    for a, b in zip(preds_ref, preds):
        a, b = a.pred_instances, b.pred_instances
        assert len(b) == 20
        torch.testing.assert_close(b.scores, a.scores, atol=1e-5, rtol=0)
        assert torch.equal(b.labels, a.labels)
        torch.testing.assert_close(b.bboxes, a.bboxes, atol=1e-5, rtol=1e-6)

    ref.train(), ours.train()
    losses_ref = ref.loss(inputs, copy.deepcopy(samples))
    losses = ours.loss(inputs, copy.deepcopy(samples))
    assert list(losses) == list(losses_ref) and 'd0.loss_cls' in losses
    for key in losses_ref:
        torch.testing.assert_close(losses[key], losses_ref[key], atol=1e-5, rtol=0)
    sum(losses_ref.values()).backward()
    sum(losses.values()).backward()
    ref_params = dict(ref.named_parameters())
    for name, param in ours.named_parameters():
        if param.grad is None:
            assert ref_params[name].grad is None, name
            continue
        torch.testing.assert_close(param.grad, ref_params[name].grad, atol=1e-5, rtol=1e-4, msg=name)


def test_modular_detr_matches_mmdet_detr():
    cfg = model_cfg('DETR', 'DETRHead', num_queries=8)
    cfg['decoder']['layer_cfg'] = dict(
        self_attn_cfg=dict(embed_dims=256, num_heads=8, dropout=0.0, batch_first=True),
        cross_attn_cfg=dict(embed_dims=256, num_heads=8, dropout=0.0, batch_first=True),
        ffn_cfg=cfg['encoder']['layer_cfg']['ffn_cfg'])
    cfg['bbox_head']['loss_cls'] = dict(type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False,
                                        loss_weight=1.0, class_weight=1.0)
    cfg['train_cfg']['assigner']['match_costs'][0] = dict(type='ClassificationCost', weight=1.)
    torch.manual_seed(0)
    ref = MODELS.build(copy.deepcopy(cfg))
    ours = MODELS.build(dict(copy.deepcopy(cfg), type='ModularDETR'))
    ours.load_state_dict(ref.state_dict(), strict=True)
    inputs, samples = make_batch()
    ref.train(), ours.train()
    losses_ref = ref.loss(inputs, copy.deepcopy(samples))
    losses = ours.loss(inputs, copy.deepcopy(samples))
    for key in losses_ref:
        torch.testing.assert_close(losses[key], losses_ref[key], atol=1e-5, rtol=0)


def test_detector_outputs_and_extra_query_group_in_decoder():
    ours = MODELS.build(model_cfg(embed_dims=64, num_heads=4)).eval()
    inputs, samples = make_batch()
    with torch.no_grad():
        head_inputs = ours.forward_transformer(ours.extract_feat(inputs), copy.deepcopy(samples))
        assert head_inputs['hidden_states'].shape == (2, 2, 10, 64)
        assert head_inputs['references'].shape == (2, 10, 2)
        # a subclass-style call: extra queries with their own reference points behind a group mask
        memory = torch.randn(2, 4, 64)
        extra = 3
        query_pos = torch.cat([ours.query_embedding.weight[None].repeat(2, 1, 1), torch.randn(2, extra, 64)], 1)
        mask = torch.zeros(13, 13, dtype=torch.bool)
        mask[:10, 10:] = True
        mask[10:, :10] = True
        refs = torch.cat([ours.decoder.ref_point_head(query_pos[:, :10]).sigmoid(), torch.rand(2, extra, 2)], 1)
        out = ours.forward_decoder(torch.zeros_like(query_pos), query_pos, memory, None, torch.randn(2, 4, 64),
                                   self_attn_mask=mask, reference_points=refs)
        assert out['hidden_states'].shape == (2, 2, 13, 64)
        assert torch.equal(out['references'], refs)


def test_loss_decreases_on_fixed_batch():
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(embed_dims=64, num_heads=4, num_queries=8))
    model.init_weights()
    model.train()
    inputs, samples = make_batch(seed=1)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=1e-4)
    totals = []
    for _ in range(20):
        losses = model.loss(inputs, copy.deepcopy(samples))
        total = sum(losses.values())
        totals.append(total.item())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
    assert all(torch.isfinite(torch.tensor(totals)))
    assert sum(totals[-3:]) / 3 < 0.7 * sum(totals[:3]) / 3, totals


@MODELS.register_module(name='_TestScaledCondDETRDecoderLayer', force=True)
class _ScaledLayer(MODELS.get('CondDETRDecoderLayer')):
    """A swapped-in decoder layer: halves its output and counts its calls."""
    calls = 0

    def forward(self, *args, **kwargs):
        type(self).calls += 1
        return super().forward(*args, **kwargs) * 0.5


def test_decoder_layer_swapped_from_config():
    cfg = model_cfg(embed_dims=64, num_heads=4, dec_layers=3)
    torch.manual_seed(0)
    plain = MODELS.build(copy.deepcopy(cfg)).eval()
    cfg['decoder']['layer_cfg']['type'] = '_TestScaledCondDETRDecoderLayer'
    swapped = MODELS.build(cfg).eval()
    assert all(type(layer) is _ScaledLayer for layer in swapped.decoder.layers)
    swapped.load_state_dict(plain.state_dict(), strict=True)
    inputs, samples = make_batch()
    _ScaledLayer.calls = 0
    with torch.no_grad():
        out_plain = plain.predict(inputs, copy.deepcopy(samples))
        out_swapped = swapped.predict(inputs, copy.deepcopy(samples))
    assert _ScaledLayer.calls == 3
    assert not torch.allclose(out_plain[0].pred_instances.scores, out_swapped[0].pred_instances.scores)


class _CountingBatchAssigner(HungarianAssigner):
    """HungarianAssigner with a batch_assign that counts how often and with how many items it is called."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.batch_sizes = []

    def batch_assign(self, batch_pred_instances, batch_gt_instances, batch_img_metas):
        self.batch_sizes.append(len(batch_pred_instances))
        return [self.assign(p, g, m) for p, g, m in zip(batch_pred_instances, batch_gt_instances, batch_img_metas)]


def _head_and_outputs(seed=0, assigner='HungarianAssigner', num_gts=(2, 3)):
    cfg = model_cfg(assigner=assigner)['bbox_head']
    cfg.update(train_cfg=dict(assigner=dict(type=assigner, match_costs=copy.deepcopy(MATCH_COSTS))),
               test_cfg=dict(max_per_img=20))
    torch.manual_seed(seed)
    head = MODELS.build(cfg)
    head.init_weights()
    hidden = torch.randn(3, 2, 10, 256)
    refs = torch.rand(2, 10, 2)
    _, samples = make_batch(seed=seed, num_gts=num_gts)
    return head, hidden, refs, samples


def test_head_calls_batch_assign_once_for_all_layers_and_images():
    head, hidden, refs, samples = _head_and_outputs()
    losses_plain = head.loss(hidden, refs, samples)
    head.assigner = _CountingBatchAssigner(match_costs=copy.deepcopy(MATCH_COSTS))
    losses_batched = head.loss(hidden, refs, samples)
    assert head.assigner.batch_sizes == [3 * 2]
    for key in losses_plain:
        torch.testing.assert_close(losses_batched[key], losses_plain[key])


def test_head_with_batched_hungarian_assigner_gives_same_losses():
    head, hidden, refs, samples = _head_and_outputs()
    batched, *_ = _head_and_outputs(assigner='BatchedHungarianAssigner')
    batched.load_state_dict(head.state_dict())
    losses, losses_batched = head.loss(hidden, refs, samples), batched.loss(hidden, refs, samples)
    for key in losses:
        torch.testing.assert_close(losses_batched[key], losses[key], atol=1e-5, rtol=0)


def test_head_loss_equals_mmdet_with_an_image_without_gt():
    head, hidden, refs, samples = _head_and_outputs(num_gts=(0, 4))
    ref_cfg = model_cfg('ConditionalDETR', 'ConditionalDETRHead')['bbox_head']
    ref_cfg.update(train_cfg=dict(assigner=dict(type='HungarianAssigner', match_costs=copy.deepcopy(MATCH_COSTS))))
    ref = MODELS.build(ref_cfg)
    ref.load_state_dict(head.state_dict())
    hidden.requires_grad_(True)
    losses = head.loss(hidden, refs, samples)
    losses_ref = ref.loss(hidden, refs, samples)
    for key in losses_ref:
        torch.testing.assert_close(losses[key], losses_ref[key], atol=1e-5, rtol=0)
    _, samples_empty = make_batch(num_gts=(0, 0))
    losses_empty = head.loss(hidden, refs, samples_empty)
    assert losses_empty['loss_bbox'].item() == 0 and losses_empty['loss_cls'].item() > 0
    sum(losses_empty.values()).backward()  # still connected to the graph
    assert hidden.grad is not None


def test_head_loss_prefix_for_extra_query_group():
    head, hidden, refs, samples = _head_and_outputs()
    losses = head.loss(hidden, refs, samples)
    extra = head.loss(hidden, refs, samples, loss_prefix='aux0.')
    assert sorted(extra) == sorted(f'aux0.{k}' for k in losses)
    for key in losses:
        torch.testing.assert_close(extra[f'aux0.{key}'], losses[key])


def test_head_zero_init_regression_centres_boxes_on_references():
    head, hidden, refs, _ = _head_and_outputs()
    _, boxes = head(hidden, refs)
    torch.testing.assert_close(boxes[..., :2], refs.expand(3, -1, -1, -1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(boxes[..., 2:], torch.full_like(boxes[..., 2:], 0.5))


def test_head_predict_takes_last_layer_of_per_layer_references():
    head, hidden, refs, samples = _head_and_outputs()
    per_layer = torch.stack([torch.rand_like(refs), torch.rand_like(refs), refs])
    with torch.no_grad():
        preds = head.predict(hidden, per_layer, samples)
        preds_shared = head.predict(hidden, refs, samples)
    for a, b in zip(preds, preds_shared):
        torch.testing.assert_close(a.bboxes, b.bboxes)
        assert torch.equal(a.labels, b.labels)


@pytest.mark.parametrize('hidden_shape, refs_shape, match', [
    ((3, 2, 10, 256), (2, 9, 2), 'references must have shape'),
    ((3, 2, 10, 256), (2, 10, 4), 'references must have shape'),
    ((3, 2, 10, 256), (4, 2, 10, 2), 'references must have shape'),
    ((2, 10, 256), (2, 10, 2), 'hidden_states must have shape'),
    ((3, 2, 10, 128), (2, 10, 2), 'hidden_states must have shape'),
])
def test_head_rejects_bad_inputs(hidden_shape, refs_shape, match):
    head, *_ = _head_and_outputs()
    with pytest.raises(ValueError, match=match):
        head(torch.randn(hidden_shape), torch.rand(refs_shape))


def test_detector_rejects_inconsistent_config():
    cfg = model_cfg(embed_dims=64, num_heads=4)
    cfg['positional_encoding']['num_feats'] = 16
    with pytest.raises(ValueError, match='num_feats'):
        MODELS.build(cfg)
    cfg = model_cfg(embed_dims=64, num_heads=4)
    cfg['decoder'] = None
    with pytest.raises(ValueError, match='decoder'):
        MODELS.build(cfg)


def test_mmdet_decoder_cannot_run_at_embed_dims_64_but_ours_can():
    """The reason our tiny configs need our decoder: mmdet's sine embedding is fixed to 256 channels."""
    cfg = model_cfg(embed_dims=64, num_heads=4)['decoder']
    inputs = dict(query=torch.zeros(1, 3, 64), key=torch.randn(1, 5, 64), query_pos=torch.randn(1, 3, 64),
                  key_pos=torch.randn(1, 5, 64), key_padding_mask=None)
    with pytest.raises(RuntimeError):
        ConditionalDetrTransformerDecoder(**copy.deepcopy(cfg))(**inputs)
    hidden, _ = MODELS.build(dict(type='CondDETRDecoder', **cfg))(**inputs)
    assert hidden.shape == (2, 1, 3, 64)


# ---------------------------------------------------------------------------------------------- configs
FULL_CONFIGS = [
    ('conditional_detr/conditional-detr_r50_8xb2-50e_coco.py', 50, 40, 50, False),
    ('conditional_detr/conditional-detr_r50_8xb2-108e_coco.py', 108, 80, 50, False),
    ('conditional_detr/conditional-detr_r50-dc5_8xb1-50e_coco.py', 50, 40, 50, True),
    ('conditional_detr/conditional-detr_r50-dc5_8xb1-108e_coco.py', 108, 80, 50, True),
    ('conditional_detr/conditional-detr_r101_8xb2-50e_coco.py', 50, 40, 101, False),
    ('conditional_detr/conditional-detr_r101_8xb2-108e_coco.py', 108, 80, 101, False),
    ('conditional_detr/conditional-detr_r101-dc5_8xb1-50e_coco.py', 50, 40, 101, True),
    ('conditional_detr/conditional-detr_r101-dc5_8xb1-108e_coco.py', 108, 80, 101, True),
]


@pytest.mark.parametrize('path, epochs, milestone, depth, dc5', FULL_CONFIGS)
def test_full_size_configs(path, epochs, milestone, depth, dc5):
    cfg = Config.fromfile(osp.join(REPO, 'configs', path))
    model = cfg.model
    assert cfg.default_scope == 'mmdet' and 'mmdet_detrx' in cfg.custom_imports['imports']
    assert model.type == 'CondDETR' and model.num_queries == 300 and model.bbox_head.type == 'CondDETRHead'
    assert model.backbone.depth == depth and model.backbone.init_cfg.checkpoint == f'torchvision://resnet{depth}'
    # strides / dilations: mmdet's ResNet defaults unless DC5 sets them
    assert tuple(model.backbone.get('strides', (1, 2, 2, 2))) == ((1, 2, 2, 1) if dc5 else (1, 2, 2, 2))
    assert tuple(model.backbone.get('dilations', (1, 1, 1, 1))) == ((1, 1, 1, 2) if dc5 else (1, 1, 1, 1))
    assert model.decoder.num_layers == 6 and model.encoder.num_layers == 6
    loss_cls = model.bbox_head.loss_cls
    assert (loss_cls.type, loss_cls.alpha, loss_cls.gamma, loss_cls.loss_weight) == ('FocalLoss', 0.25, 2.0, 2.0)
    assert model.bbox_head.loss_bbox.loss_weight == 5.0 and model.bbox_head.loss_iou.loss_weight == 2.0
    assert [c.weight for c in model.train_cfg.assigner.match_costs] == [2.0, 5.0, 2.0]
    assert model.test_cfg.max_per_img == 100
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.param_scheduler[0].milestones == [milestone] and cfg.param_scheduler[0].end == epochs
    assert cfg.train_dataloader.batch_size == (1 if dc5 else 2)


def test_dc5_config_builds_and_has_stride_16():
    cfg = Config.fromfile(osp.join(REPO, 'configs', FULL_CONFIGS[2][0]))
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, 64, 96))
    assert feats[0].shape == (1, 256, 4, 6)


def test_detr_config_matches_conditional_detr_settings():
    detr = Config.fromfile(osp.join(REPO, 'configs/detr/detr_r50_8xb2-50e_coco.py'))
    cond = Config.fromfile(osp.join(REPO, 'configs', FULL_CONFIGS[0][0]))
    assert detr.model.type == 'ModularDETR' and detr.model.bbox_head.type == 'DETRHead'
    for key in ('backbone', 'neck', 'encoder', 'positional_encoding', 'data_preprocessor'):
        assert detr.model[key] == cond.model[key], key
    def settings(cfg, key):  # the registry scope that mmdet:: inheritance records is not a setting
        def strip(x):
            if isinstance(x, dict):
                return {k: strip(v) for k, v in x.items() if k != '_scope_'}
            return [strip(v) for v in x] if isinstance(x, (list, tuple)) else x
        return strip(cfg[key])

    for key in ('train_dataloader', 'val_dataloader', 'optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert settings(detr, key) == settings(cond, key), key
    detr.model.backbone.init_cfg = None
    detr.model.backbone.depth = 18
    detr.model.neck.in_channels = [512]
    model = MODELS.build(detr.model)
    assert type(model).__name__ == 'ModularDETR'


TINY_CONFIGS = ['conditional_detr/conditional-detr_r18_1xb2-12e_coco128.py', 'detr/detr_r18_1xb2-12e_coco128.py']


@pytest.mark.parametrize('path', TINY_CONFIGS)
def test_tiny_coco128_configs_build_and_run(path):
    cfg = Config.fromfile(osp.join(REPO, 'configs', path))
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    inputs, samples = make_batch()
    losses = model.loss(inputs, samples)
    assert all(torch.isfinite(v) for v in losses.values())
