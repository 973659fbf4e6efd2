"""The C++ CPU kernel of multi-scale deformable attention (mmdet_detrx/ops) against mmcv's PyTorch function."""
import importlib.util
import os.path as osp
import shutil

import pytest
import torch
from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch
from torch.utils.cpp_extension import JIT_EXTENSION_VERSIONER, _get_build_directory

from mmdet_detrx.ops import load_cpu_extension, ms_deform_attn_cpu
import mmdet_detrx.ops._extension as module
from ..helpers import torch_threads

SHAPES = torch.tensor([[10, 12], [5, 6], [3, 3]])


def _inputs(bs=2, queries=30, heads=4, dims=8, points=3, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    num_value = int(SHAPES.prod(-1).sum())
    value = torch.randn(bs, num_value, heads, dims, generator=g, dtype=dtype)
    # some locations outside [0, 1] (zero padding, corners partly outside); none within 1e-3 px of a pixel
    # centre line, where the bilinear weights' derivative jumps and two float roundings may pick either side
    locations = torch.rand(bs, queries, heads, 3, points, 2, generator=g, dtype=dtype) * 1.4 - 0.2
    size = torch.stack([SHAPES[:, 1], SHAPES[:, 0]], -1).to(dtype)[:, None, :]  # (levels, 1, 2): w, h
    pixel = locations * size - 0.5
    near = (pixel - pixel.round()).abs() < 1e-3
    locations = torch.where(near, locations + 3e-3 / size, locations)
    weights = torch.rand(bs, queries, heads, 3, points, generator=g, dtype=dtype).softmax(-1)
    return value, locations, weights


def _run(fn, value, locations, weights, grad_out):
    leaves = [t.clone().requires_grad_() for t in (value, locations, weights)]
    out = fn(leaves[0], SHAPES, leaves[1], leaves[2])
    (out * grad_out).sum().backward()
    return [out.detach()] + [t.grad for t in leaves]


def test_extension_builds_here():
    """The install provides a compiler and ninja: the kernel must build (a silent fallback would hide a break)."""
    assert load_cpu_extension() is not None


def test_kernels_run_on_torch_threads():
    """Built with OpenMP: at::parallel_for in the kernels uses torch.set_num_threads' threads (without -fopenmp it
    silently ran on one)."""
    ext = load_cpu_extension()
    for threads in (1, 2):
        with torch_threads(threads):
            assert ext.parallel_threads() == threads


def test_same_results_on_any_number_of_threads():
    value, locations, weights = _inputs(bs=2, queries=40, heads=4, dtype=torch.float32)
    grad_out = torch.randn(2, 40, 4 * 8)
    kernel = load_cpu_extension()
    results = []
    for threads in (1, 2):
        with torch_threads(threads):
            assert kernel is not None and kernel.parallel_threads() == threads  # fails on a one-thread build
            results.append(_run(lambda v, s, loc, w: ms_deform_attn_cpu(v, s, None, loc, w), value, locations,
                                weights, grad_out))
    for a, b in zip(*results):
        assert torch.equal(a, b)


@pytest.mark.parametrize('dtype,tol', [(torch.float64, 1e-10), (torch.float32, 2e-5)])
def test_equals_mmcv_function_and_gradients(dtype, tol):
    value, locations, weights = _inputs(dtype=dtype)
    grad_out = torch.randn(2, 30, 32, dtype=dtype)
    ref = _run(multi_scale_deformable_attn_pytorch, value, locations, weights, grad_out)
    ours = _run(lambda v, s, loc, w: ms_deform_attn_cpu(v, s, None, loc, w), value, locations, weights, grad_out)
    for name, a, b in zip(('output', 'value grad', 'location grad', 'weight grad'), ours, ref):
        assert b.abs().sum() > 0, name
        torch.testing.assert_close(a, b, rtol=tol, atol=tol, msg=name)
    # points whose four corners all lie outside contribute nothing and get no gradient
    far = locations.clone()
    far[:, :5] = -0.5
    out, _, loc_grad, w_grad = _run(lambda v, s, loc, w: ms_deform_attn_cpu(v, s, None, loc, w), value, far, weights,
                                    grad_out)
    assert out[:, :5].abs().max() == 0 and loc_grad[:, :5].abs().max() == 0 and w_grad[:, :5].abs().max() == 0


def test_gradcheck():
    value, locations, weights = _inputs(bs=1, queries=4, heads=2, dims=3, points=2)
    leaves = [t.requires_grad_() for t in (value, locations, weights)]
    assert torch.autograd.gradcheck(lambda v, loc, w: ms_deform_attn_cpu(v, SHAPES, None, loc, w), leaves)


def test_level_start_index_given_equals_derived():
    value, locations, weights = _inputs(dtype=torch.float32)
    starts = torch.tensor([0, 120, 150])
    torch.testing.assert_close(ms_deform_attn_cpu(value, SHAPES, starts, locations, weights),
                               ms_deform_attn_cpu(value, SHAPES, None, locations, weights), rtol=0, atol=0)


def test_fallback_without_extension_gives_the_same(monkeypatch):
    value, locations, weights = _inputs(dtype=torch.float32)
    with_ext = ms_deform_attn_cpu(value, SHAPES, None, locations, weights)
    monkeypatch.setitem(module._state, 'ext', None)
    torch.testing.assert_close(ms_deform_attn_cpu(value, SHAPES, None, locations, weights), with_ext,
                               rtol=1e-5, atol=1e-5)


def test_sources_have_one_path_however_the_package_is_reached(tmp_path):
    """Through a symlink (mim's link in site-packages, used by `python tools/*.py`) the build command must name the
    same files, or ninja rebuilds the kernels each time processes of the two kinds alternate."""
    link = tmp_path / 'linked_package'
    link.symlink_to(osp.dirname(osp.dirname(osp.realpath(module.__file__))))
    spec = importlib.util.spec_from_file_location('linked_extension', link / 'ops' / '_extension.py')
    linked = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(linked)
    assert linked.SOURCES == module.SOURCES
    assert all(osp.isfile(path) for path in linked.SOURCES)


def test_loading_again_in_a_process_keeps_the_build(monkeypatch):
    """torch's ``load`` appends its link flags to the list it is given; our flags must stay as written, or a second
    load in the process (as the fallback test below does) is another version (``_v1``) and ninja rebuilds."""
    flags = [list(f) for _, f in module._BUILDS]
    monkeypatch.setattr(module, '_state', {})
    assert load_cpu_extension() is not None
    assert [list(f) for _, f in module._BUILDS] == flags
    assert JIT_EXTENSION_VERSIONER.get_version(f'detrx_cpu_ops_{module._build_tag()}') == 0


def test_switched_off_by_environment(monkeypatch):
    monkeypatch.setattr(module, '_state', {})
    monkeypatch.setenv('DETRX_CPU_EXTENSION', '0')
    assert load_cpu_extension() is None


def test_a_failed_openmp_build_falls_back_and_says_so(monkeypatch):
    """Where the first build (OpenMP) fails, the next one is used with a warning; where all fail, None and a
    warning with every reason. (The second build here is the cached OpenMP one, so nothing compiles.)"""
    good = module._BUILDS[0]
    try:
        _failing_builds(monkeypatch, good)
    finally:  # no failed build folders left in the user's extension cache
        for suffix in ('_bad', '_bad2'):
            shutil.rmtree(_get_build_directory(f'detrx_cpu_ops_{module._build_tag()}{suffix}', False),
                          ignore_errors=True)


def _failing_builds(monkeypatch, good):
    monkeypatch.setattr(module, '_state', {})
    monkeypatch.setattr(module, '_BUILDS', (('_bad', ['-fdetrx-no-such-flag']), good))
    with pytest.warns(UserWarning, match='without OpenMP'):
        ext = load_cpu_extension()
    assert ext is not None and hasattr(ext, 'dropout_forward')
    monkeypatch.setattr(module, '_state', {})
    monkeypatch.setattr(module, '_BUILDS', (('_bad', ['-fdetrx-no-such-flag']), ('_bad2', ['-fdetrx-no-other-flag'])))
    with pytest.warns(UserWarning, match='could not be built') as record:
        assert load_cpu_extension() is None
    message = str(record[-1].message)
    assert message.count('Error: ') == 2 and 'DETRX_CPU_EXTENSION=0' in message  # both reasons, the way out


def test_bad_inputs_name_the_problem():
    value, locations, weights = _inputs(dtype=torch.float32)
    with pytest.raises(ValueError, match='spatial_shapes'):
        ms_deform_attn_cpu(value[:, :-1], SHAPES, None, locations, weights)
    with pytest.raises(RuntimeError, match='attention_weights must be'):
        ms_deform_attn_cpu(value, SHAPES, None, locations, weights[..., :1])
    with pytest.raises(RuntimeError, match='sampling_locations must be'):
        ms_deform_attn_cpu(value, SHAPES, None, locations[..., :1], weights)


def test_hook_switches_plain_dino_to_the_kernel_with_the_same_outputs():
    """``CPUDeformableAttentionHook`` (in the plain Lite0 DINO / Deformable DETR configs) switches mmdet's
    DINO to our kernel: every deformable attention module, same state dict, same predictions."""
    import copy
    import logging
    from types import SimpleNamespace

    from mmcv.ops import MultiScaleDeformableAttention
    from mmengine.config import Config

    from mmdet.registry import HOOKS, MODELS
    from mmdet.structures import DetDataSample
    from mmdet.utils import register_all_modules
    from mmdet_detrx.models.layers.deform_attn_cpu import DetrxMSDeformAttn
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile('configs/dino/dino_lite0_1xb2-14e_bccd.py')
    assert dict(type='CPUDeformableAttentionHook') in cfg.custom_hooks
    cfg.model.backbone.init_cfg = None
    cfg.model.encoder.num_layers = cfg.model.decoder.num_layers = 1
    torch.manual_seed(0)
    plain = MODELS.build(cfg.model).eval()
    fast = copy.deepcopy(plain)
    count = sum(type(m) is MultiScaleDeformableAttention for m in plain.modules())
    assert count == 2  # one encoder and one decoder layer
    HOOKS.build(dict(type='CPUDeformableAttentionHook')).before_run(
        SimpleNamespace(model=fast, logger=logging.getLogger('test')))
    assert sum(type(m) is DetrxMSDeformAttn for m in fast.modules()) == count
    assert not any(type(m) is MultiScaleDeformableAttention for m in fast.modules())
    assert fast.state_dict().keys() == plain.state_dict().keys()
    inputs = torch.randn(1, 3, 96, 128)
    sample = DetDataSample(metainfo=dict(img_shape=(96, 128), ori_shape=(96, 128), batch_input_shape=(96, 128),
                                         scale_factor=(1., 1.)))
    with torch.no_grad():
        results = [m.predict(inputs, [copy.deepcopy(sample)])[0].pred_instances for m in (plain, fast)]
    torch.testing.assert_close(results[1].scores, results[0].scores, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(results[1].bboxes, results[0].bboxes, rtol=1e-4, atol=1e-3)


def test_bfloat16_and_tracing_take_the_pytorch_path():
    """bfloat16 (autocast) has no kernel and an exported graph needs PyTorch operations: both use grid_sample."""
    value, locations, weights = _inputs(dtype=torch.float32)
    ref = multi_scale_deformable_attn_pytorch(value, SHAPES, locations, weights)
    out = ms_deform_attn_cpu(value.bfloat16(), SHAPES, None, locations.bfloat16(), weights.bfloat16())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)
    traced = torch.jit.trace(lambda v, loc, w: ms_deform_attn_cpu(v, SHAPES, None, loc, w), (value, locations, weights))
    assert 'grid_sampler' in str(traced.graph)
    torch.testing.assert_close(traced(value, locations, weights), ref, rtol=1e-5, atol=1e-5)
