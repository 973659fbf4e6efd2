"""Co-DETR training: losses with every auxiliary-head set, weights, determinism, decrease on a fixed batch, autocast."""
import copy

import pytest
import torch
from mmengine.config import Config

import mmdet_detrx  # noqa: F401  (registers the modules)
from mmdet.registry import MODELS
from .helpers import (as_base_state_dict, build, co_detr_cfg, finite, make_batch, total_loss, train_on_fixed_batch)


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
    dino.load_state_dict(as_base_state_dict(co), strict=True)
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
    history = train_on_fixed_batch(build(co_detr_cfg('all')))
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
