"""The C++ dropout kernel (mmdet_detrx/ops/csrc/fast_dropout_cpu.cpp) behind fast_dropout on CPU."""
import pytest
import torch

import mmdet_detrx.ops._extension as extension
from mmdet_detrx.models.layers.fast_dropout import fast_dropout, fast_dropout_unscaled, relu_dropout_unscaled
from ..helpers import torch_threads


@pytest.fixture(autouse=True)
def kernel_built():
    assert extension.load_cpu_extension() is not None


@pytest.mark.parametrize('p', [0.1, 0.5, 0.9])
def test_keep_rate_and_scaling(p):
    torch.manual_seed(0)
    x = torch.rand(1_000_003) + 0.5  # no zeros, an odd size: the last 64-bit word is partial
    out = fast_dropout(x, p, True)
    kept = out != 0
    keep_prob = 1 - round(p * 65536) / 65536
    sigma = (keep_prob * (1 - keep_prob) / x.numel()) ** 0.5
    assert abs(kept.float().mean().item() - keep_prob) < 5 * sigma
    torch.testing.assert_close(out[kept], x[kept] * (1 / (1 - p)), rtol=0, atol=0)
    assert kept[-3:].any() or not kept[-3:].all()  # the tail is drawn, not left at zero or copied
    # no period: halves of the tensor are not copies of each other
    half = x.numel() // 2
    assert not torch.equal(kept[:half], kept[half:2 * half])


def test_reproducible_different_per_call_and_thread_independent():
    x = torch.randn(4096, 33)
    torch.manual_seed(5)
    a, b = fast_dropout(x, 0.3, True), fast_dropout(x, 0.3, True)
    torch.manual_seed(5)
    a2 = fast_dropout(x, 0.3, True)
    with torch_threads(1):
        torch.manual_seed(5)
        a1 = fast_dropout(x, 0.3, True)
    assert torch.equal(a, a2) and torch.equal(a, a1)
    assert not torch.equal(a != 0, b != 0)


def _documented_keep(n, threshold, seed):
    """The kernel's rule written out with Python integers: splitmix64's finaliser over seed + (j + 1) * golden for
    word j; element 4j + k is kept when bits [16k, 16k + 16) of that word are >= threshold."""
    mask64 = (1 << 64) - 1
    keep = []
    for j in range((n + 3) // 4):
        z = (seed + (j + 1) * 0x9e3779b97f4a7c15) & mask64
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & mask64
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & mask64
        z ^= z >> 31
        keep += [(z >> (16 * k)) & 0xffff >= threshold for k in range(4)]
    return torch.tensor(keep[:n])


@pytest.mark.parametrize('threads', [1, 2])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_draws_follow_the_documented_rule(threads, dtype):
    """Brute force of the counter-based draws, across blocks, a partial last word, threads and dtypes."""
    ext = extension.load_cpu_extension()
    n, threshold, seed = 4 * 64 * 5 + 7, 19661, 123456789
    x = torch.rand(n, dtype=dtype) + 0.5
    grad = torch.randn(n, dtype=dtype)
    with torch_threads(threads):
        out, keep = ext.dropout_forward(x, threshold, 2.5, seed, False)
        relu_out, = ext.dropout_forward(x - 1, threshold, 1., seed, True)
        grad_in = ext.dropout_backward(grad, keep, 2.5)
    expected = _documented_keep(n, threshold, seed)
    assert 0.6 < expected.float().mean().item() < 0.8  # the rule keeps about 1 - 19661 / 65536
    assert torch.equal(keep, expected)
    assert torch.equal(out, torch.where(expected, x * 2.5, 0.))
    assert torch.equal(relu_out, torch.where(expected, (x - 1).clamp_min(0), 0.))
    assert torch.equal(grad_in, torch.where(expected, grad * 2.5, 0.))


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_gradient_is_the_mask_times_the_scale(dtype):
    x = (torch.rand(37, 50, dtype=dtype) + 0.1).requires_grad_()
    grad = torch.randn(37, 50, dtype=dtype)
    torch.manual_seed(1)
    out = fast_dropout(x, 0.2, True)
    out.backward(grad)
    keep = out.detach() != 0
    torch.testing.assert_close(x.grad, torch.where(keep, grad * (1 / 0.8), 0), rtol=0, atol=0)
    # unscaled: the caller applies the scale
    x.grad = None
    torch.manual_seed(1)
    out, scale = fast_dropout_unscaled(x, 0.2, True)
    assert scale == pytest.approx(1 / 0.8) and torch.equal(out.detach() != 0, keep)
    torch.testing.assert_close(out.detach()[keep], x.detach()[keep], rtol=0, atol=0)


def test_relu_variant():
    torch.manual_seed(2)
    x = torch.randn(300, 64, requires_grad=True)
    out, scale = relu_dropout_unscaled(x, 0.25, True)
    assert scale == pytest.approx(1 / 0.75)
    positive = x.detach() > 0
    assert (out.detach()[~positive] == 0).all()
    dropped = positive & (out.detach() == 0)
    assert 0.2 < dropped.sum().item() / positive.sum().item() < 0.3
    torch.testing.assert_close(out.detach()[positive & ~dropped], x.detach()[positive & ~dropped], rtol=0, atol=0)
    out.sum().backward()
    assert torch.equal(x.grad, (out.detach() > 0).float())


def test_other_dtypes_and_eval_do_not_use_the_kernel():
    x = torch.randn(8, 8, dtype=torch.bfloat16)
    assert fast_dropout(x, 0.5, True).dtype == torch.bfloat16
    y = torch.randn(8, 8)
    assert fast_dropout(y, 0.5, False) is y
    with pytest.raises(ValueError, match='dropout probability'):
        fast_dropout(y, 1.5, True)
