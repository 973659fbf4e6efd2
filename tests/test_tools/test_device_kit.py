"""scripts/device: the pure-PyTorch ``mmcv._ext`` for the lent GPU machine equals mmcv's compiled ops (CPU), and
the driver's jobs name configs that exist and dependencies that are jobs."""
import importlib.util
import os.path as osp
import re
import sys

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import REPO

DEVICE = osp.join(REPO, 'scripts', 'device')


def _load(name):
    spec = importlib.util.spec_from_file_location(f'detrx_device_{name}', osp.join(DEVICE, f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def ops():
    from mmcv.utils import ext_loader
    real = ext_loader.load_ext('_ext', ['nms', 'roi_align_forward', 'roi_align_backward'])
    return real, _load('mmcv_ext_stub')


def test_nms_keeps_what_mmcv_keeps(ops):
    real, stub = ops
    gen = torch.Generator().manual_seed(0)
    for n in (0, 1, 60, 800):
        xy = torch.rand(n, 2, generator=gen) * 300
        boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=gen) * 80 + 1], 1)
        scores = torch.rand(n, generator=gen)
        for thr in (0.3, 0.7):
            expected = real.nms(boxes, scores, iou_threshold=thr, offset=0)
            assert torch.equal(stub.nms(boxes, scores, iou_threshold=thr, offset=0), expected)
            assert torch.equal(stub._nms_torch(boxes, scores, thr), expected)


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('sampling_ratio', [0, 2])
def test_roi_align_forward_and_backward_equal_mmcv(ops, aligned, sampling_ratio):
    real, stub = ops
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 30, 40, generator=gen)
    rois = torch.tensor([[0, 3.2, 4.1, 30.5, 22.7], [1, 0, 0, 39, 29], [0, 10, 10, 11, 10.5], [1, -5, 3, 50, 40.]])
    kw = dict(aligned_height=7, aligned_width=7, spatial_scale=0.5, sampling_ratio=sampling_ratio, pool_mode=1,
              aligned=aligned)
    empty = x.new_zeros(0)
    out = [x.new_zeros(4, 4, 7, 7) for _ in range(2)]
    real.roi_align_forward(x, rois, out[0], empty, empty, **kw)
    stub.roi_align_forward(x, rois, out[1], empty, empty, **kw)
    torch.testing.assert_close(out[1], out[0], atol=1e-5, rtol=1e-5)
    grad = torch.randn(4, 4, 7, 7, generator=gen)
    grads = [torch.zeros_like(x) for _ in range(2)]
    real.roi_align_backward(grad, rois, empty, empty, grads[0], **kw)
    stub.roi_align_backward(grad, rois, empty, empty, grads[1], **kw)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-4, rtol=1e-4)


def test_sigmoid_focal_loss_equals_mmdets_python_focal_loss(ops):
    from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
    _, stub = ops
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(30, 5, generator=gen, requires_grad=True)
    target = torch.randint(0, 6, (30,), generator=gen)  # 5 = background
    expected = py_sigmoid_focal_loss(x, F.one_hot(target, 6)[:, :5].float(), None, 2.0, 0.25, 'none')
    out, grad = torch.zeros(30, 5), torch.zeros(30, 5)
    stub.sigmoid_focal_loss_forward(x.detach(), target, x.new_empty(0), out, gamma=2.0, alpha=0.25)
    stub.sigmoid_focal_loss_backward(x.detach(), target, x.new_empty(0), grad, gamma=2.0, alpha=0.25)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(grad, torch.autograd.grad(expected.sum(), x)[0])
    # and the closed form, element by element: positives alpha (1-p)^2 (-log p), others (1-alpha) p^2 (-log(1-p))
    p = x.detach().sigmoid()
    positive = F.one_hot(target, 6)[:, :5].bool()
    closed = torch.where(positive, 0.25 * (1 - p) ** 2 * -p.log(), 0.75 * p ** 2 * -(1 - p).log())
    torch.testing.assert_close(out, closed)


def test_deformable_attention_through_mmcvs_function_equals_the_pytorch_reference(ops, monkeypatch):
    import mmcv.ops.multi_scale_deform_attn as msda
    _, stub = ops
    monkeypatch.setattr(msda, 'ext_module', stub)
    gen = torch.Generator().manual_seed(3)
    shapes, start = torch.tensor([[8, 10], [4, 5]]), torch.tensor([0, 80])
    value = torch.randn(2, 100, 4, 16, generator=gen, requires_grad=True)
    loc = torch.rand(2, 7, 4, 2, 3, 2, generator=gen, requires_grad=True)
    weight = torch.rand(2, 7, 4, 2, 3, generator=gen, requires_grad=True)
    out = msda.MultiScaleDeformableAttnFunction.apply(value, shapes, start, loc, weight, 64)
    ref = msda.multi_scale_deformable_attn_pytorch(value, shapes, loc, weight)
    torch.testing.assert_close(out, ref)
    g = torch.randn(out.shape, generator=gen)
    inputs = (value, loc, weight)
    for a, b in zip(torch.autograd.grad(out, inputs, g), torch.autograd.grad(ref, inputs, g)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_an_op_without_a_stand_in_says_so_when_called(ops):
    _, stub = ops
    with pytest.raises(NotImplementedError, match='mmcv._ext.deform_conv_forward'):
        stub.deform_conv_forward()


def test_driver_jobs_name_existing_configs_and_known_dependencies(monkeypatch):
    monkeypatch.setattr(sys, 'argv', ['driver.py'])
    jobs = _load('driver').jobs()
    names = [j['name'] for j in jobs]
    assert len(names) == len(set(names))
    for job in jobs:
        assert all(d in names and names.index(d) < names.index(job['name']) for d in job['deps']), job['name']
        configs = re.findall(r'(configs/\S+\.py)', job['cmd'])
        assert configs, job['name']
        for config in configs:
            assert osp.isfile(osp.join(REPO, config)), (job['name'], config)
