"""CPU speed paths compute what mmcv / mmdet compute: gather RoIAlign, our CPU deformable attention,
shared value projection."""
import copy

import pytest
import torch

import mmdet_detrx  # noqa: F401  (registers the modules)
from mmdet.registry import MODELS
from .helpers import E, LEVELS, STRIDES, aux_cfgs, build, co_detr_cfg, make_batch, total_loss


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
    cfg = ConfigDict(aux_cfgs('two-stage')['roi_head'][0])
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
def test_cpu_deformable_attn_module_equals_mmcv(batch_first, ref_dims):
    from mmcv.ops import MultiScaleDeformableAttention
    from mmdet_detrx.models.layers.deform_attn_cpu import DetrxMSDeformAttn, use_cpu_deformable_attn
    torch.manual_seed(0)
    ref = MultiScaleDeformableAttention(32, num_heads=4, num_levels=3, num_points=3, dropout=0.0,
                                       batch_first=batch_first)
    torch.nn.init.normal_(ref.sampling_offsets.weight, std=0.3)  # locations that leave the maps too
    ours = copy.deepcopy(ref)
    holder = torch.nn.Sequential(ours)
    assert use_cpu_deformable_attn(holder) == 1 and type(holder[0]) is DetrxMSDeformAttn
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
    """Co-DINO with our CPU deformable attention and the gather RoIAlign (defaults) equals the model
    with mmcv's CPU paths: same losses, same gradients (up to float summation order)."""
    from mmcv.ops import MultiScaleDeformableAttention, RoIAlign
    from mmdet_detrx.models.layers.deform_attn_cpu import DetrxMSDeformAttn
    from mmdet_detrx.models.layers.gather_roi_align import DetrxGatherRoIAlign
    fast = build(co_detr_cfg('all'))
    plain_cfg = co_detr_cfg('all', cpu_deformable_attention=False)
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


def test_former_config_key_still_switches_the_attention_with_a_warning():
    from mmcv.ops import MultiScaleDeformableAttention
    from mmdet_detrx.models.layers.deform_attn_cpu import DetrxMSDeformAttn
    with pytest.warns(DeprecationWarning, match='cpu_deformable_attention'):
        off = build(co_detr_cfg('none', cpu_level_sum_attention=False, cpu_deformable_attention=True))
    kinds = {type(m) for m in off.modules()}
    assert MultiScaleDeformableAttention in kinds and DetrxMSDeformAttn not in kinds  # the former key wins
    with pytest.warns(DeprecationWarning):
        on = build(co_detr_cfg('none', cpu_level_sum_attention=True))
    assert DetrxMSDeformAttn in {type(m) for m in on.modules()}
