"""Layer-level tests of Conditional DETR: attentions and decoder against mmdet, masks, shapes, errors."""
import copy

import pytest
import torch
from mmdet.models.layers import ConditionalDetrTransformerDecoder
from mmdet.models.layers.transformer.utils import ConditionalAttention
from mmdet.registry import MODELS

import mmdet_detrx  # noqa: F401
from mmdet_detrx.models.layers.conditional_attention import attention_bias
from mmdet_detrx.models.layers.fast_dropout import fast_dropout, fast_dropout_unscaled, keep_mask

D, H = 32, 4


def _decoder_cfg(num_layers=2, embed_dims=D, **kwargs):
    return dict(
        num_layers=num_layers,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=H, attn_drop=0.0, cross_attn=False),
            cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=H, attn_drop=0.0, cross_attn=True),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=64, num_fcs=2, ffn_drop=0.0)),
        **kwargs)


def _decoder_inputs(batch=2, queries=7, keys=12, embed_dims=D, seed=0):
    gen = torch.Generator().manual_seed(seed)
    query = torch.randn(batch, queries, embed_dims, generator=gen)
    query_pos = torch.randn(batch, queries, embed_dims, generator=gen)
    memory = torch.randn(batch, keys, embed_dims, generator=gen)
    memory_pos = torch.randn(batch, keys, embed_dims, generator=gen)
    padding = torch.zeros(batch, keys, dtype=torch.bool)
    padding[-1, keys - 3:] = True
    return dict(query=query, key=memory, query_pos=query_pos, key_pos=memory_pos, key_padding_mask=padding)


@pytest.mark.parametrize('use_3d_mask', [False, True])
def test_cross_attention_matches_mmdet(use_3d_mask):
    ref = ConditionalAttention(D, H, cross_attn=True).eval()
    ours = MODELS.build(dict(type='CondDETRCrossAttention', embed_dims=D, num_heads=H)).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    inputs = _decoder_inputs()
    sine = torch.randn_like(inputs['query'])
    mask = None
    if use_3d_mask:  # (B * H, Q, K), bool, every query keeps at least one key
        mask = torch.rand(2 * H, 7, 12, generator=torch.Generator().manual_seed(1)) > 0.7
        mask[..., 0] = False
    out_ref = ref(inputs['query'], inputs['key'], query_pos=inputs['query_pos'], ref_sine_embed=sine,
                  key_pos=inputs['key_pos'], attn_mask=mask, key_padding_mask=inputs['key_padding_mask'], is_first=True)
    out = ours(inputs['query'], inputs['key'], key_pos=inputs['key_pos'], ref_sine_embed=sine,
               query_pos=inputs['query_pos'], attn_mask=mask, key_padding_mask=inputs['key_padding_mask'])
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)


def test_cross_attention_without_query_pos_has_no_qpos_proj_and_ignores_it():
    attn = MODELS.build(dict(type='CondDETRCrossAttention', embed_dims=D, num_heads=H, use_query_pos=False)).eval()
    assert attn.qpos_proj is None and 'qpos_proj.weight' not in attn.state_dict()
    inputs = _decoder_inputs()
    sine = torch.randn_like(inputs['query'])
    kwargs = dict(key=inputs['key'], key_pos=inputs['key_pos'], ref_sine_embed=sine)
    out_a = attn(inputs['query'], query_pos=inputs['query_pos'], **kwargs)
    out_b = attn(inputs['query'], query_pos=torch.randn_like(inputs['query']), **kwargs)
    torch.testing.assert_close(out_a, out_b)


def test_self_attention_matches_mmdet_with_float_mask():
    ref = ConditionalAttention(D, H, cross_attn=False).eval()
    ours = MODELS.build(dict(type='CondDETRSelfAttention', embed_dims=D, num_heads=H)).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x, pos = torch.randn(2, 6, D), torch.randn(2, 6, D)
    mask = torch.randn(6, 6)
    out_ref = ref(x, x, query_pos=pos, key_pos=pos, attn_mask=mask)
    torch.testing.assert_close(ours(x, pos, attn_mask=mask), out_ref, atol=1e-5, rtol=1e-5)


def test_attention_bias_bool_and_float_masks_agree():
    gen = torch.Generator().manual_seed(0)
    bool_mask = torch.rand(5, 4, generator=gen) > 0.5
    padding = torch.tensor([[False, False, True, False], [False, False, False, False]])
    from_bool = attention_bias(bool_mask, padding, 2, 3, 5, 4, torch.float32)
    float_mask = torch.zeros(5, 4).masked_fill(bool_mask, float('-inf'))
    from_float = attention_bias(float_mask, padding, 2, 3, 5, 4, torch.float32)
    assert from_bool.shape == (6, 5, 4)
    torch.testing.assert_close(from_bool, from_float)
    # padding of image 0, key 2 is masked for all of its 3 heads only
    assert torch.isinf(from_bool[:3, :, 2]).all() and not torch.isinf(from_bool[3:, :, 2]).all()
    assert attention_bias(None, None, 2, 3, 5, 4, torch.float32) is None


@pytest.mark.parametrize('mask, padding, match', [
    (torch.zeros(4, 5, dtype=torch.bool), None, 'attn_mask must have shape'),
    (torch.zeros(5, 4, dtype=torch.long), None, 'attn_mask must be bool'),
    (None, torch.zeros(2, 3, dtype=torch.bool), 'key_padding_mask must have shape'),
])
def test_attention_bias_rejects_bad_masks(mask, padding, match):
    with pytest.raises(ValueError, match=match):
        attention_bias(mask, padding, 2, 3, 5, 4, torch.float32)


def test_fast_dropout_keeps_expected_fraction_and_mean():
    torch.manual_seed(0)
    x = torch.ones(200, 500)
    out = fast_dropout(x, 0.1, training=True)
    kept = (out > 0).float().mean().item()
    assert abs(kept - 0.9) < 0.01
    assert abs(out.mean().item() - 1.0) < 0.02
    assert fast_dropout(x, 0.1, training=False) is x
    with pytest.raises(ValueError, match='dropout probability'):
        fast_dropout(x, 1.5, training=True)


@pytest.mark.parametrize('p', [0.05, 0.1, 0.5, 0.9])
def test_keep_mask_is_bernoulli_in_every_16_bit_lane(p):
    """Each of the four 16-bit lanes of a 64-bit draw keeps with probability 1 - p (a lane with a constant bit,
    e.g. from non-negative 64-bit draws, would keep ~always), and neighbouring elements are uncorrelated."""
    torch.manual_seed(0)
    n = 400_000
    mask = keep_mask(torch.empty(n, 4), p).float()  # column j = lane j of each word
    tolerance = 5 * (p * (1 - p) / n)**0.5
    for lane in range(4):
        assert abs(mask[:, lane].mean().item() - (1 - p)) < tolerance, lane
    centred = mask.flatten() - mask.mean()
    correlation = (centred[1:] * centred[:-1]).mean() / centred.var()
    assert abs(correlation.item()) < 0.01
    assert keep_mask(torch.ones(7, 3), p).shape == (7, 3)  # numel not a multiple of 4


def test_keep_mask_edges_and_seed():
    x = torch.ones(5, 7)
    assert keep_mask(x, 0.).all() and not keep_mask(x, 1.).any() and not keep_mask(x, 1 - 1e-6).any()
    torch.manual_seed(3)
    first = keep_mask(x, 0.3)
    torch.manual_seed(3)
    assert torch.equal(keep_mask(x, 0.3), first)


def test_fast_dropout_backward_masks_like_forward():
    x = torch.randn(50, 40, requires_grad=True)
    torch.manual_seed(0)
    out = fast_dropout(x, 0.2, training=True)
    out.backward(torch.ones_like(out))
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / 0.8)
    torch.testing.assert_close(x.grad, kept.float() / 0.8)


def test_fast_dropout_unscaled_times_its_scale_is_fast_dropout():
    x = torch.randn(30, 20, requires_grad=True)
    torch.manual_seed(1)
    ref = fast_dropout(x, 0.25, training=True)
    torch.manual_seed(1)
    out, scale = fast_dropout_unscaled(x, 0.25, training=True)
    assert scale == pytest.approx(1 / 0.75)
    torch.testing.assert_close(out * scale, ref)
    out.backward(torch.ones_like(out))  # unscaled gradient: the mask itself
    torch.testing.assert_close(x.grad, (ref != 0).float())
    assert fast_dropout_unscaled(x, 0.25, training=False) == (x, 1.)


def test_attention_dropout_scale_on_the_product_equals_scaled_weights():
    """attn_drop applies 1 / (1 - p) to weights @ values; outputs and gradients equal dropout on the weights."""
    from mmdet_detrx.models.layers.conditional_attention import _ConditionalAttentionBase
    torch.manual_seed(0)
    attn = MODELS.build(dict(type='CondDETRSelfAttention', embed_dims=D, num_heads=H, attn_drop=0.3)).train()
    q, k, v = (torch.randn(2, H, 7, D // H, requires_grad=True) for _ in range(3))
    torch.manual_seed(5)
    out = _ConditionalAttentionBase._attend(attn, q, k, v, None, None)
    out.sum().backward()
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    torch.manual_seed(5)  # the same keep mask, scaled on the weights
    logits = q.reshape(2 * H, 7, -1) @ k.reshape(2 * H, 7, -1).transpose(1, 2) * (D // H)**-0.5
    weights = fast_dropout(logits.softmax(-1), 0.3, training=True)
    ref = (weights @ v.reshape(2 * H, 7, -1)).view(2, H, 7, -1).transpose(1, 2).reshape(2, 7, D)
    ref = attn.out_proj(ref)
    ref.sum().backward()
    torch.testing.assert_close(out, ref)
    for got, t in zip(grads, (q, k, v)):
        torch.testing.assert_close(got, t.grad)


def test_fast_dropout_ffn_equals_mmcv_ffn_in_eval_and_drops_in_train():
    from mmcv.cnn.bricks.transformer import FFN
    cfg = dict(embed_dims=D, feedforward_channels=64, num_fcs=2, ffn_drop=0.3)
    ref = FFN(**cfg).eval()
    ours = MODELS.build(dict(type='FastDropoutFFN', **cfg)).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert not any(isinstance(m, torch.nn.Dropout) for m in ours.modules())
    x = torch.randn(4, 5, D)
    torch.testing.assert_close(ours(x), ref(x))
    ours.train()
    torch.manual_seed(0)
    out_a = ours(x)
    torch.manual_seed(1)
    assert (ours(x) - out_a).abs().max() > 1e-3


@pytest.mark.parametrize('p', [0.0, 0.3])
@pytest.mark.parametrize('add_identity', [True, False])
def test_fused_relu_dropout_ffn_equals_its_unfused_forward_in_training(p, add_identity):
    """Training on CPU, FastDropoutFFN runs ReLU + dropout as one node and scales in the second GEMM; with the same
    random stream its outputs and gradients equal the module-by-module forward (mmcv's, with the same dropouts)."""
    from mmcv.cnn.bricks.transformer import FFN
    torch.manual_seed(0)
    ffn = MODELS.build(dict(type='FastDropoutFFN', embed_dims=D, feedforward_channels=64, num_fcs=2, ffn_drop=p,
                            add_identity=add_identity)).train()
    x = torch.randn(3, 7, D, requires_grad=True)
    identity = torch.randn(3, 7, D)
    results = []
    for forward in (ffn.forward, lambda *a: FFN.forward(ffn, *a)):  # fused, then mmcv's module by module
        torch.manual_seed(4)
        out = forward(x, identity)
        out.backward(torch.linspace(-1, 1, out.numel()).view_as(out))
        results.append((out.detach(), x.grad.clone(), [q.grad.clone() for q in ffn.parameters()]))
        x.grad = None
        ffn.zero_grad(set_to_none=True)
    (out_f, gx_f, gp_f), (out_r, gx_r, gp_r) = results
    torch.testing.assert_close(out_f, out_r)
    torch.testing.assert_close(gx_f, gx_r)
    for a, b in zip(gp_f, gp_r):
        torch.testing.assert_close(a, b)
    if p:
        hidden = ffn.layers[0][0](x).detach()
        assert (hidden > 0).any() and (hidden < 0).any()  # ReLU and mask both matter on this input


def test_relu_dropout_backward_zero_where_dropped_or_negative(monkeypatch):
    """The PyTorch path (where the C++ kernel is not built; the kernel: tests/test_ops) draws keep_mask's mask."""
    import mmdet_detrx.ops._extension as extension
    from mmdet_detrx.models.layers.fast_dropout import relu_dropout_unscaled
    monkeypatch.setitem(extension._state, 'ext', None)
    x = torch.randn(40, 30, requires_grad=True)
    torch.manual_seed(2)
    out, scale = relu_dropout_unscaled(x, 0.4, training=True)
    torch.manual_seed(2)
    keep = keep_mask(x, 0.4)
    assert scale == pytest.approx(1 / 0.6)
    torch.testing.assert_close(out, torch.where(keep, x.clamp_min(0), 0.).detach())
    out.sum().backward()
    torch.testing.assert_close(x.grad, (keep & (x > 0)).float())
    assert 0 < keep.float().mean() < 1 and (x < 0).any()


def test_decoder_matches_mmdet_at_256_dims():
    """mmdet's decoder hard-codes 128 sine frequencies, so it is only comparable at embed_dims 256."""
    cfg = _decoder_cfg(embed_dims=256)
    ref = ConditionalDetrTransformerDecoder(**copy.deepcopy(cfg)).eval()
    ours = MODELS.build(dict(type='CondDETRDecoder', **copy.deepcopy(cfg))).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    inputs = _decoder_inputs(embed_dims=256)
    hidden_ref, refs_ref = ref(**inputs)
    hidden, refs = ours(**inputs)
    torch.testing.assert_close(hidden, hidden_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(refs, refs_ref)


@pytest.mark.parametrize('return_intermediate', [True, False])
@pytest.mark.parametrize('num_queries', [1, 7, 30])
def test_decoder_shapes_for_any_query_length(return_intermediate, num_queries):
    decoder = MODELS.build(dict(type='CondDETRDecoder', **_decoder_cfg(num_layers=3,
                                                                       return_intermediate=return_intermediate)))
    inputs = _decoder_inputs(queries=num_queries)
    hidden, refs = decoder(**inputs)
    assert hidden.shape == (3 if return_intermediate else 1, 2, num_queries, D)
    assert refs.shape == (2, num_queries, 2)
    assert ((refs > 0) & (refs < 1)).all()
    torch.testing.assert_close(refs, decoder.ref_point_head(inputs['query_pos']).sigmoid())
    # post-normed outputs: zero mean per query (LayerNorm with its initial affine parameters)
    assert hidden.mean(-1).abs().max() < 1e-4


def test_decoder_block_mask_keeps_query_groups_independent():
    """With a block-diagonal self-attention mask, group A's outputs do not depend on group B."""
    decoder = MODELS.build(dict(type='CondDETRDecoder', **_decoder_cfg(num_layers=2))).eval()
    inputs = _decoder_inputs(queries=10)
    n_a = 4
    mask = torch.ones(10, 10, dtype=torch.bool)
    mask[:n_a, :n_a] = False
    mask[n_a:, n_a:] = False
    hidden, _ = decoder(**inputs, self_attn_mask=mask)
    alone = dict(inputs, query=inputs['query'][:, :n_a], query_pos=inputs['query_pos'][:, :n_a])
    hidden_alone, _ = decoder(**alone)
    torch.testing.assert_close(hidden[:, :, :n_a], hidden_alone, atol=1e-5, rtol=1e-5)
    # without the mask the groups interact
    hidden_free, _ = decoder(**inputs)
    assert (hidden_free[:, :, :n_a] - hidden_alone).abs().max() > 1e-3


def test_decoder_uses_given_reference_points():
    decoder = MODELS.build(dict(type='CondDETRDecoder', **_decoder_cfg())).eval()
    inputs = _decoder_inputs()
    given = torch.full((2, 7, 2), 0.25)
    hidden, refs = decoder(**inputs, reference_points=given)
    hidden_default, _ = decoder(**inputs)
    assert torch.equal(refs, given)
    assert (hidden - hidden_default).abs().max() > 1e-4


def test_decoder_keep_query_pos_gives_every_layer_qpos_proj():
    decoder = MODELS.build(dict(type='CondDETRDecoder', keep_query_pos=True, **_decoder_cfg(num_layers=3)))
    assert all(layer.cross_attn.qpos_proj is not None for layer in decoder.layers)
    default = MODELS.build(dict(type='CondDETRDecoder', **_decoder_cfg(num_layers=3)))
    assert [layer.cross_attn.qpos_proj is not None for layer in default.layers] == [True, False, False]
    hidden, _ = decoder(**_decoder_inputs())
    assert torch.isfinite(hidden).all()


@pytest.mark.parametrize('change, match', [
    (dict(self_attn_mask=torch.zeros(3, 3, dtype=torch.bool)), 'self_attn_mask must have shape'),
    (dict(reference_points=torch.rand(2, 7, 4)), 'reference_points must have shape'),
    (dict(query_pos=torch.zeros(2, 5, D)), 'query_pos must have the shape of query'),
    (dict(key_pos=torch.zeros(2, 12, D + 1)), 'key_pos must have the shape of key'),
    (dict(key_padding_mask=torch.zeros(2, 11, dtype=torch.bool)), 'key_padding_mask must have shape'),
])
def test_decoder_rejects_bad_inputs(change, match):
    decoder = MODELS.build(dict(type='CondDETRDecoder', **_decoder_cfg()))
    with pytest.raises(ValueError, match=match):
        decoder(**dict(_decoder_inputs(), **change))


def test_attention_rejects_mmdet_flag_of_the_other_kind():
    with pytest.raises(ValueError, match='use CondDETRCrossAttention'):
        MODELS.build(dict(type='CondDETRSelfAttention', embed_dims=D, num_heads=H, cross_attn=True))
    with pytest.raises(ValueError, match='divisible by num_heads'):
        MODELS.build(dict(type='CondDETRCrossAttention', embed_dims=30, num_heads=4))


def test_batch_shared_object_queries_give_the_same_outputs_and_gradients():
    """An object-query tensor expanded over the batch (as CondDETR.pre_decoder passes it) is projected once per
    batch; outputs and gradients equal those of the same queries copied per image."""
    from mmdet_detrx.models.layers.conditional_attention import batch_shared
    decoder = MODELS.build(dict(type='CondDETRDecoder', **_decoder_cfg())).eval()
    inputs = _decoder_inputs(batch=3)
    results = {}
    for shared in (True, False):
        embedding = torch.randn(7, D, generator=torch.Generator().manual_seed(1)).requires_grad_()
        query_pos = embedding[None].expand(3, -1, -1)
        if not shared:
            query_pos = query_pos.contiguous()
        assert batch_shared(query_pos) == shared
        decoder.zero_grad()
        hidden, refs = decoder(**dict(inputs, query_pos=query_pos))
        (hidden.square().sum() + refs.sum()).backward()
        results[shared] = (hidden, refs, embedding.grad, decoder.layers[0].self_attn.qpos_proj.weight.grad.clone())
    for a, b in zip(results[True], results[False]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_cond_detr_pre_decoder_shares_the_object_queries():
    from mmdet_detrx.models.detectors.conditional_detr import CondDETR
    model = CondDETR.__new__(CondDETR)
    torch.nn.Module.__init__(model)
    model.query_embedding = torch.nn.Embedding(5, D)
    decoder_inputs, head_inputs = model.pre_decoder(torch.randn(2, 9, D))
    assert decoder_inputs['query_pos'].shape == (2, 5, D) and decoder_inputs['query_pos'].stride(0) == 0
    torch.testing.assert_close(decoder_inputs['query_pos'][1], model.query_embedding.weight)
    assert decoder_inputs['query'].shape == (2, 5, D) and not decoder_inputs['query'].any()
    assert head_inputs == {}
