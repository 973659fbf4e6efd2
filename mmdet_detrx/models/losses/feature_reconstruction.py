"""Feature reconstruction loss of UP-DETR: squared distance between L2-normalised feature vectors."""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

from mmdet.models.losses.utils import weight_reduce_loss
from mmdet.registry import MODELS


def normalized_squared_error(pred: Tensor, target: Tensor) -> Tensor:
    """``|| pred / |pred| - target / |target| ||^2`` per vector.

    Args:
        pred (Tensor): (..., C).
        target (Tensor): (..., C), same shape.

    Returns:
        Tensor: (...), in [0, 4].
    """
    if pred.shape != target.shape:
        raise ValueError(f'pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape')
    return (F.normalize(pred, dim=-1) - F.normalize(target, dim=-1)).pow(2).sum(-1)


@MODELS.register_module()
class FeatureReconstructionLoss(nn.Module):
    """MSE between L2-normalised predicted and target features, summed over channels (UP-DETR).

    With ``reduction='mean'`` and ``avg_factor`` = the number of matched boxes this is the reference's
    ``mse(normalize(pred), normalize(target), reduction='none').sum() / num_boxes``.

    Args:
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'`` over the vectors. Defaults to ``'mean'``.
        loss_weight (float): weight of the loss. Defaults to 1.0 (paper).
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """
        Args:
            pred (Tensor): predicted features, (N, C).
            target (Tensor): target features, (N, C).
            weight (Tensor, optional): (N,) weight per vector.
            avg_factor (float, optional): divisor of the ``'mean'`` reduction instead of N.
            reduction_override (str, optional): overrides ``reduction``.

        Returns:
            Tensor: scalar, or (N,) for ``'none'``.
        """
        reduction = reduction_override or self.reduction
        loss = normalized_squared_error(pred, target)
        return self.loss_weight * weight_reduce_loss(loss, weight, reduction, avg_factor)
