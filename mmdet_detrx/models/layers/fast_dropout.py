"""Dropout that is cheaper on CPU, and mmcv's FFN using it.

PyTorch's CPU dropout draws one random number per element (``bernoulli_``). :func:`fast_dropout` uses a 16-bit
draw per element: an element is kept when its draw is at least ``round(p * 65536)`` (of 65536 levels), i.e. with
probability ``1 - round(p * 65536) / 65536`` (``1 - p`` to within 1 / 131072 = 7.6e-6), and the kept values are
scaled by ``1 / (1 - p)`` as in ``F.dropout``. In a DETR decoder (dropout on the 2048-wide FFN activations and on
every attention map) ``F.dropout``'s masks were ~10% of a CPU training step.

On CPU the draws, the mask and the scaling run in one pass in our C++ kernel
(``mmdet_detrx/ops/csrc/fast_dropout_cpu.cpp``: four draws per 64-bit word of a counter-based mix of a seed
taken from PyTorch's default generator and the element index, so ``torch.manual_seed`` makes it reproducible
and the thread count does not change it); where the kernel is not built, the same rule with PyTorch operations
(:func:`keep_mask`: 64-bit words of the default generator read as four 16-bit integers). The random stream
differs from ``F.dropout``'s, so runs are not bit-identical to ones with ``nn.Dropout``. Other devices use
``F.dropout``.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import FFN
from torch import Tensor, nn

from mmdet.registry import MODELS
from ...ops import load_cpu_extension


_LEVELS = 1 << 16  # 16-bit draws per element
_INT16_MIN = -(1 << 15)


def keep_mask(x: Tensor, p: float) -> Tensor:
    """A bool mask of ``x``'s shape, each element True with probability ``1 - round(p * 65536) / 65536``.

    Four 16-bit draws per 64-bit word of the default generator (``torch.manual_seed`` makes it reproducible);
    the full signed 64-bit range is requested, so every 16 bits of a word are uniform.

    Args:
        x (Tensor): the tensor to mask (its shape and device are used), any shape.
        p (float): drop probability in [0, 1].

    Returns:
        Tensor: bool, the shape of ``x``.
    """
    threshold = _INT16_MIN + round(p * _LEVELS)
    if threshold >= -_INT16_MIN:  # p rounds to 1: nothing is kept (the threshold does not fit in int16)
        return torch.zeros(x.shape, dtype=torch.bool, device=x.device)
    n = x.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(1 << 63), None)
    draws = words.view(torch.int16)[:n].view(x.shape)
    return draws >= threshold


class _KeepAndScale(torch.autograd.Function):
    """``where(keep, x, 0) * scale`` whose backward applies the same saved bool mask to the gradient (two passes
    each way, one byte per element saved; ``x * keep * scale`` would convert the bool mask to float twice)."""

    @staticmethod
    def forward(ctx, x: Tensor, keep: Tensor, scale: float) -> Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        out = torch.where(keep, x, 0.)
        return out if scale == 1. else out.mul_(scale)

    @staticmethod
    def backward(ctx, grad: Tensor):
        keep, = ctx.saved_tensors
        grad = torch.where(keep, grad, 0.)
        return grad if ctx.scale == 1. else grad.mul_(ctx.scale), None, None


class _KernelDropout(torch.autograd.Function):
    """:class:`_KeepAndScale` of a fresh mask, in the C++ kernel: draws, mask and scaling in one pass each way."""

    @staticmethod
    def forward(ctx, x: Tensor, threshold: int, scale: float, seed: int, ext) -> Tensor:
        out, keep = ext.dropout_forward(x, threshold, scale, seed, False)
        ctx.save_for_backward(keep)
        ctx.scale, ctx.ext = scale, ext
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        keep, = ctx.saved_tensors
        return ctx.ext.dropout_backward(grad, keep, ctx.scale), None, None, None, None


class _KernelReLUDropout(torch.autograd.Function):
    """:class:`_ReLUKeep` of a fresh mask, in the C++ kernel (one pass forward; ReLU's backward on the output)."""

    @staticmethod
    def forward(ctx, x: Tensor, threshold: int, seed: int, ext) -> Tensor:
        out, = ext.dropout_forward(x, threshold, 1., seed, True)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        out, = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad, out, 0.), None, None, None


def _kernel_seed() -> int:
    """One draw of the default generator per call: ``torch.manual_seed`` makes the kernel's masks reproducible."""
    return int(torch.randint(0, 1 << 62, (), dtype=torch.int64))


def _dropout(x: Tensor, p: float, training: bool, scaled: bool, relu: bool = False) -> Tuple[Tensor, float]:
    """Shared body of :func:`fast_dropout` (``scaled``), :func:`fast_dropout_unscaled` and
    :func:`relu_dropout_unscaled` (``relu``: ReLU first)."""
    if not 0. <= p <= 1.:
        raise ValueError(f'dropout probability must be in [0, 1], got {p}')
    if not training or p == 0.:
        return (F.relu(x) if relu else x), 1.
    if x.device.type != 'cpu' or p == 1.:
        return F.dropout(F.relu(x) if relu else x, p, training=True), 1.
    scale = 1. / (1. - p)
    threshold = round(p * _LEVELS)
    ext = load_cpu_extension() if x.dtype in (torch.float32, torch.float64) and threshold < _LEVELS else None
    if ext is not None:
        if relu:
            return _KernelReLUDropout.apply(x, threshold, _kernel_seed(), ext), scale
        if scaled:
            return _KernelDropout.apply(x, threshold, scale, _kernel_seed(), ext), 1.
        return _KernelDropout.apply(x, threshold, 1., _kernel_seed(), ext), scale
    if relu:
        return _ReLUKeep.apply(x, keep_mask(x, p)), scale
    if scaled:
        return _KeepAndScale.apply(x, keep_mask(x, p), scale), 1.
    return _KeepAndScale.apply(x, keep_mask(x, p), 1.), scale


def fast_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout with a 16-bit keep mask on CPU (see the module docstring and :func:`keep_mask`).

    Args:
        x (Tensor): input of any shape.
        p (float): probability to zero an element, in [0, 1].
        training (bool): apply dropout only when True.

    Returns:
        Tensor: ``x`` (the same object) when not training or ``p == 0``, else a new tensor.
    """
    return _dropout(x, p, training, scaled=True)[0]


def fast_dropout_unscaled(x: Tensor, p: float, training: bool) -> Tuple[Tensor, float]:
    """:func:`fast_dropout` with its ``1 / (1 - p)`` scaling left to the caller: ``out * scale`` is the dropout.

    For dropout followed by a linear map (attention weights times values), scaling the map's smaller output
    instead of the input saves a pass over the input forward and backward; same values and gradients.

    Args:
        x (Tensor): input of any shape.
        p (float): probability to zero an element, in [0, 1].
        training (bool): apply dropout only when True.

    Returns:
        tuple[Tensor, float]: the input with dropped elements zeroed (not scaled; ``x`` itself when nothing is
        dropped), and the scale still to apply (1 when already applied or not needed).
    """
    return _dropout(x, p, training, scaled=False)


class _ReLUKeep(torch.autograd.Function):
    """``relu(where(keep, x, 0))`` saving only its output: the backward is ReLU's (``threshold_backward`` on the
    output), since an element passes the gradient exactly when it is kept and positive, i.e. when its output is."""

    @staticmethod
    def forward(ctx, x: Tensor, keep: Tensor) -> Tensor:
        out = torch.where(keep, x, 0.).clamp_min_(0.)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        out, = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad, out, 0.), None


def relu_dropout_unscaled(x: Tensor, p: float, training: bool) -> Tuple[Tensor, float]:
    """``fast_dropout(relu(x))`` with the ``1 / (1 - p)`` scaling left to the caller (see
    :func:`fast_dropout_unscaled`), as one autograd node on CPU.

    Forward: two passes over ``x`` after the mask (``where``, in-place ``clamp_min_``); backward: one
    (``threshold_backward`` on the saved output, which the following linear layer saves anyway), instead of
    ReLU + mask + scale each way.

    Args:
        x (Tensor): input of any shape.
        p (float): probability to zero an element, in [0, 1].
        training (bool): apply dropout only when True.

    Returns:
        tuple[Tensor, float]: ``relu(x)`` with dropped elements zeroed, and the scale still to apply.
    """
    return _dropout(x, p, training, scaled=False, relu=True)


class FastDropout(nn.Module):
    """``nn.Dropout`` replacement using :func:`fast_dropout` (no parameters, same state dict)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0. <= p <= 1.:
            raise ValueError(f'dropout probability must be in [0, 1], got {p}')
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return fast_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f'p={self.p}'


@MODELS.register_module()
class FastDropoutFFN(FFN):
    """mmcv's ``FFN`` (same arguments, parameters and forward) whose dropouts are :class:`FastDropout`.

    Training on CPU with two layers and a ReLU (the DETR FFN), the hidden activation goes through
    :func:`relu_dropout_unscaled` (ReLU and dropout as one node) and the dropout's ``1 / (1 - p)`` is the second
    layer's GEMM ``alpha`` (``addmm(b, h, W^T, alpha=1 / (1 - p))`` = ``linear(h / (1 - p))``): the same function
    with four fewer elementwise passes over the wide hidden activation per step, and no copy for an in-place
    ReLU on a view. Otherwise (evaluation, other devices or activations) mmcv's forward.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for parent in list(self.modules()):
            for name, child in parent.named_children():
                if isinstance(child, nn.Dropout):
                    setattr(parent, name, FastDropout(child.p))
        self._fused_relu = self.num_fcs == 2 and type(self.layers[0][1]) is nn.ReLU

    def forward(self, x: Tensor, identity: Optional[Tensor] = None) -> Tensor:
        """As mmcv's ``FFN.forward``: ``identity + dropout_layer(gamma2(layers(x)))``, ``identity`` defaulting to
        ``x`` (without the sum when ``add_identity`` is False).

        Args:
            x (Tensor): (..., embed_dims).
            identity (Tensor, optional): the residual, same shape as the output.

        Returns:
            Tensor: (..., embed_dims).
        """
        if not (self._fused_relu and self.training and x.device.type == 'cpu'):
            return super().forward(x, identity)
        fc1, drop1 = self.layers[0][0], self.layers[0][2]
        fc2, drop2 = self.layers[1], self.layers[2]
        hidden, scale = relu_dropout_unscaled(fc1(x), drop1.p, True)
        flat = hidden.reshape(-1, hidden.size(-1))
        out = torch.addmm(fc2.bias, flat, fc2.weight.t(), alpha=scale)  # mmcv's FFN layers always have a bias
        out = self.gamma2(drop2(out.view(*hidden.shape[:-1], -1)))
        if not self.add_identity:
            return self.dropout_layer(out)
        return (x if identity is None else identity) + self.dropout_layer(out)
