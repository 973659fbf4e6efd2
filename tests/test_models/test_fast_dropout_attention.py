"""FastDropoutMultiheadAttention: mmcv's MultiheadAttention with a cheaper CPU training path. With dropout off it
must give mmcv's outputs and gradients (shared state dict) in training; with dropout on, drop the expected share;
in evaluation and for options the fast path does not cover it must run mmcv's forward unchanged."""
import copy

import pytest
import torch
from mmcv.cnn.bricks.transformer import MultiheadAttention
from mmdet.registry import MODELS

import mmdet_detrx  # noqa: F401
from mmdet_detrx.models.layers.fast_dropout_attention import FastDropoutMultiheadAttention

DIMS, HEADS, BATCH, LQ, LK = 32, 4, 2, 7, 9


def pair(**kwargs):
    torch.manual_seed(0)
    ref = MultiheadAttention(DIMS, HEADS, batch_first=kwargs.pop('batch_first', True), **kwargs)
    with torch.no_grad():  # mmcv leaves the biases at 0: give them values so a wrong bias slice shows
        ref.attn.in_proj_bias.normal_()
        ref.attn.out_proj.bias.normal_()
    ours = FastDropoutMultiheadAttention(DIMS, HEADS, batch_first=ref.batch_first, **kwargs)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ref, ours


def run(module, inputs, **kwargs):
    inputs = {k: v.detach().clone().requires_grad_(v.is_floating_point()) for k, v in inputs.items()}
    out = module(**inputs, **kwargs)
    out.pow(2).sum().backward()
    return out.detach(), {k: v.grad for k, v in inputs.items()}, {n: p.grad.clone() for n, p in
                                                                   module.named_parameters()}


def assert_same(a, b):
    out_a, in_a, par_a = a
    out_b, in_b, par_b = b
    torch.testing.assert_close(out_a, out_b, rtol=1e-5, atol=1e-5)
    for k in in_a:
        torch.testing.assert_close(in_a[k], in_b[k], rtol=1e-5, atol=1e-4, msg=f'grad of {k}')
    assert par_a.keys() == par_b.keys()
    for k in par_a:
        torch.testing.assert_close(par_a[k], par_b[k], rtol=1e-5, atol=1e-4, msg=f'grad of {k}')


def test_state_dict_is_mmcvs_and_it_is_the_default_of_our_layers():
    ref, ours = pair()
    assert list(ref.state_dict()) == list(ours.state_dict())
    layer = MODELS.build(dict(type='ModularDETREncoderLayer', self_attn_cfg=dict(embed_dims=DIMS, num_heads=HEADS,
                                                                                   batch_first=True),
                              ffn_cfg=dict(embed_dims=DIMS, feedforward_channels=64)))
    assert type(layer.self_attn) is FastDropoutMultiheadAttention


@pytest.mark.parametrize('mask', [None, 'bool2d', 'float3d'])
@pytest.mark.parametrize('padding', [False, True])
def test_self_attention_equals_mmcv_in_training_without_dropout(mask, padding):
    ref, ours = pair()
    ref.train(), ours.train()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, LQ, DIMS, generator=gen)
    pos = torch.randn(BATCH, LQ, DIMS, generator=gen)
    kwargs = {}
    if mask == 'bool2d':
        kwargs['attn_mask'] = torch.rand(LQ, LQ, generator=gen) > 0.7
        kwargs['attn_mask'].fill_diagonal_(False)
    elif mask == 'float3d':
        kwargs['attn_mask'] = torch.randn(BATCH * HEADS, LQ, LQ, generator=gen)
    if padding:
        kwargs['key_padding_mask'] = torch.zeros(BATCH, LQ, dtype=torch.bool)
        kwargs['key_padding_mask'][1, -3:] = True

    def call(module):  # as mmdet's encoder layer calls it: key is query, key_pos is query_pos
        x_ = x.clone().requires_grad_()
        pos_ = pos.clone().requires_grad_()
        out = module(query=x_, key=x_, value=x_, query_pos=pos_, key_pos=pos_, **kwargs)
        out.pow(2).sum().backward()
        return out.detach(), {'x': x_.grad, 'pos': pos_.grad}, {n: p.grad.clone() for n, p in module.named_parameters()}

    assert_same(call(ref), call(ours))


@pytest.mark.parametrize('batch_first', [True, False])
def test_cross_attention_equals_mmcv_in_training_without_dropout(batch_first):
    ref, ours = pair(batch_first=batch_first)
    gen = torch.Generator().manual_seed(2)
    shape_q = (BATCH, LQ, DIMS) if batch_first else (LQ, BATCH, DIMS)
    shape_k = (BATCH, LK, DIMS) if batch_first else (LK, BATCH, DIMS)
    inputs = dict(query=torch.randn(shape_q, generator=gen), key=torch.randn(shape_k, generator=gen),
                  value=torch.randn(shape_k, generator=gen), query_pos=torch.randn(shape_q, generator=gen),
                  key_pos=torch.randn(shape_k, generator=gen), identity=torch.randn(shape_q, generator=gen))
    padding = torch.zeros(BATCH, LK, dtype=torch.bool)
    padding[0, :4] = True
    assert_same(run(ref, inputs, key_padding_mask=padding), run(ours, inputs, key_padding_mask=padding))


def test_key_pos_defaults_to_query_pos_as_in_mmcv():
    ref, ours = pair()
    gen = torch.Generator().manual_seed(3)
    inputs = dict(query=torch.randn(BATCH, LQ, DIMS, generator=gen), query_pos=torch.randn(BATCH, LQ, DIMS,
                                                                                            generator=gen))
    assert_same(run(ref, inputs), run(ours, inputs))


def test_dropout_in_training_drops_and_is_reproducible():
    _, ours = pair(attn_drop=0.5, proj_drop=0.)
    ours.train()
    x = torch.randn(BATCH, LQ, DIMS)
    torch.manual_seed(5)
    a = ours(x)
    torch.manual_seed(5)
    b = ours(x)
    torch.manual_seed(6)
    c = ours(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)
    ours.eval()
    assert not torch.allclose(a, ours(x))


def test_output_dropout_zeroes_the_expected_share():
    _, ours = pair(proj_drop=0.3)
    ours.train()
    x = torch.randn(4, 64, DIMS)
    out = ours(x, identity=torch.zeros_like(x))
    share = (out == 0).float().mean().item()
    assert abs(share - 0.3) < 0.02, share


def test_mmcv_dropout_keyword_sets_both_dropouts_as_mmcv_does():
    with pytest.warns(DeprecationWarning):
        ours = FastDropoutMultiheadAttention(DIMS, HEADS, batch_first=True, dropout=0.4)
    assert ours.attn.dropout == 0.4 and ours.dropout_layer.p == 0.4
    ours.train()
    x = torch.randn(4, 64, DIMS)
    share = (ours(x, identity=torch.zeros_like(x)) == 0).float().mean().item()
    assert abs(share - 0.4) < 0.02, share


def test_eval_and_uncovered_options_run_mmcvs_forward(monkeypatch):
    calls = []
    original = MultiheadAttention.forward

    def spy(self, *args, **kwargs):
        calls.append(type(self).__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MultiheadAttention, 'forward', spy)
    x = torch.randn(BATCH, LQ, DIMS)
    ref, ours = pair()
    ref.eval(), ours.eval()
    torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=0)  # evaluation: mmcv's forward, same numbers
    assert calls == ['FastDropoutMultiheadAttention', 'MultiheadAttention']
    calls.clear()
    ours.train()
    ours(x)
    assert calls == []  # the fast path
    with_bias_kv = FastDropoutMultiheadAttention(DIMS, HEADS, batch_first=True, add_bias_kv=True).train()
    with_bias_kv(x)
    drop_path = FastDropoutMultiheadAttention(DIMS, HEADS, batch_first=True,
                                              dropout_layer=dict(type='DropPath', drop_prob=0.1)).train()
    drop_path(x)
    assert calls == ['FastDropoutMultiheadAttention'] * 2


def test_deepcopy_and_bad_mask_named():
    _, ours = pair()
    ours.train()
    copy.deepcopy(ours)
    with pytest.raises(ValueError, match='key_padding_mask must have shape'):
        ours(torch.randn(BATCH, LQ, DIMS), key_padding_mask=torch.zeros(BATCH, LQ + 1, dtype=torch.bool))
