"""Co-DETR around Conditional DETR (single-level memory upsampled for the auxiliary heads)."""
import copy

import torch
from mmengine.config import Config

import mmdet_detrx  # noqa: F401  (registers the modules)
from mmdet.registry import MODELS
from mmdet_detrx.models.detectors.co_detr import group_layer_targets
from mmdet_detrx.models.layers.co_detr_layers import pack_positive_queries
from .helpers import (EC, NUM_CLASSES, as_base_state_dict, build, co_cond_detr_cfg, finite, make_batch,
                      random_positives, total_loss, train_on_fixed_batch)


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
    enc_in, enc_out, dec_in, _ = model.run_base(img_feats, samples)
    feats = model.memory_feature_maps(img_feats, enc_in, enc_out)
    group = pack_positive_queries([random_positives(2, 0), random_positives(5, 1)], metas, NUM_CLASSES, min_queries=9)
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
    history = train_on_fixed_batch(build(co_cond_detr_cfg('all')))
    assert history[-1]['total'] < 0.9 * history[0]['total'], history
    assert history[-1]['aux_queries'] < 0.9 * history[0]['aux_queries'], history


def test_co_conditional_detr_predict_equals_cond_detr():
    cfg = co_cond_detr_cfg('all')
    co = build(cfg)
    base = MODELS.build(Config(dict(m=cfg['query_head'])).m)
    base.load_state_dict(as_base_state_dict(co), strict=True)
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
