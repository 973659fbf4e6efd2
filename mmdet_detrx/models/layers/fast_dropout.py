"""Dropout that is cheaper on CPU, and mmcv's FFN using it.

PyTorch's CPU dropout draws its mask with ``bernoulli_``, which costs about twice as much as ``rand_like``
plus a comparison. In a DETR decoder (dropout on 2048-wide FFN activations and on every attention map) the
masks are ~10% of a CPU training step. :func:`fast_dropout` draws the same distribution (keep with
probability ``1 - p``, scale by ``1 / (1 - p)``) from ``rand_like``; the random stream differs from
``F.dropout``'s, so runs are not bit-identical to ones with ``nn.Dropout``. Other devices use ``F.dropout``.
"""
import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import FFN
from torch import Tensor, nn

from mmdet.registry import MODELS


def fast_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout with a ``rand_like`` mask on CPU (see the module docstring).

    Args:
        x (Tensor): input of any shape.
        p (float): probability to zero an element, in [0, 1].
        training (bool): apply dropout only when True.

    Returns:
        Tensor: ``x`` (the same object) when not training or ``p == 0``, else a new tensor.
    """
    if not 0. <= p <= 1.:
        raise ValueError(f'dropout probability must be in [0, 1], got {p}')
    if not training or p == 0.:
        return x
    if x.device.type != 'cpu' or p == 1.:
        return F.dropout(x, p, training=True)
    keep = torch.rand_like(x) >= p
    return x * keep * (1. / (1. - p))


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
    """mmcv's ``FFN`` (same arguments, parameters and forward) whose dropouts are :class:`FastDropout`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for parent in list(self.modules()):
            for name, child in parent.named_children():
                if isinstance(child, nn.Dropout):
                    setattr(parent, name, FastDropout(child.p))
