"""Whole-batch versions of mmdet's match costs.

Each class here subclasses one mmdet match cost, so it takes exactly the same constructor arguments (and keeps
mmdet's single-image ``__call__``), and adds :meth:`BatchedMatchCostMixin.batch_cost`, which computes the cost
matrices of all images of a batch with one batched tensor op per cost.

Batched inputs are dicts of zero-padded float32 (float64 if given) tensors, one entry per instance field:

- ``preds[name]``: (B, Q, ...) e.g. ``scores`` (B, Q, C) logits, ``bboxes`` (B, Q, 4) absolute xyxy.
- ``gts[name]``: (B, G, ...) e.g. ``labels`` (B, G) long, ``bboxes`` (B, G, 4) absolute xyxy.
- ``img_shapes``: (B, 2) float32 (h, w) per image, for costs with ``requires_img_shape``.

Rows/columns of padding hold arbitrary (finite or not) values; the caller slices them away.

:func:`build_batched_match_cost` turns an mmdet match-cost config (``dict(type='FocalLossCost', ...)``) into the
batched class registered for that mmdet type, so an assigner is configured exactly like mmdet's
``HungarianAssigner``.
"""
import copy
from typing import Callable, Dict, Optional, Tuple, Type, Union

import torch
from mmengine import ConfigDict
from torch import Tensor

from mmdet.models.task_modules.assigners.match_cost import (BaseMatchCost, BBoxL1Cost, ClassificationCost,
                                                            FocalLossCost, IoUCost)
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh

#: mmdet match-cost class -> its batched subclass (exact type match; mmdet subclasses such as
#: ``BinaryFocalLossCost`` change the semantics, so they are not covered by their parent's entry).
BATCHED_MATCH_COSTS: Dict[type, type] = {}


def batched_version_of(mmdet_cost: Type[BaseMatchCost]) -> Callable[[type], type]:
    """Class decorator: declares the decorated class as the batched implementation of ``mmdet_cost``.

    Args:
        mmdet_cost: The mmdet match-cost class that configs name.

    Returns:
        The decorator; it also registers the class in ``TASK_UTILS``.
    """

    def wrap(cls: type) -> type:
        if not issubclass(cls, BatchedMatchCostMixin):
            raise TypeError(f'{cls.__name__} must subclass BatchedMatchCostMixin')
        if mmdet_cost in BATCHED_MATCH_COSTS:
            raise KeyError(f'{mmdet_cost.__name__} already has a batched version: '
                           f'{BATCHED_MATCH_COSTS[mmdet_cost].__name__}')
        BATCHED_MATCH_COSTS[mmdet_cost] = cls
        return TASK_UTILS.register_module()(cls)

    return wrap


class BatchedMatchCostMixin:
    """Adds a whole-batch cost computation to an mmdet match cost.

    Subclasses set :attr:`requires_img_shape`, the fields they read (:attr:`pred_keys` / :attr:`gt_keys`, or
    override :meth:`pred_fields` / :meth:`gt_fields` where they depend on the arguments) and implement
    :meth:`batch_cost`. The weight is applied inside :meth:`batch_cost`, as mmdet does in ``__call__``.
    """

    #: Whether :meth:`batch_cost` needs ``img_shapes``.
    requires_img_shape: bool = False
    #: The prediction / ground-truth fields that :meth:`batch_cost` reads.
    pred_keys: Tuple[str, ...] = ()
    gt_keys: Tuple[str, ...] = ()

    def pred_fields(self) -> Tuple[str, ...]:
        """Names of the prediction fields that :meth:`batch_cost` reads."""
        if not self.pred_keys:
            raise NotImplementedError(f'{type(self).__name__} names no pred_keys')
        return self.pred_keys

    def gt_fields(self) -> Tuple[str, ...]:
        """Names of the ground-truth fields that :meth:`batch_cost` reads."""
        if not self.gt_keys:
            raise NotImplementedError(f'{type(self).__name__} names no gt_keys')
        return self.gt_keys

    def batch_cost(self, preds: Dict[str, Tensor], gts: Dict[str, Tensor],
                   img_shapes: Optional[Tensor] = None) -> Tensor:
        """Weighted cost of every (prediction, gt) pair of every image.

        Args:
            preds: Field name -> (B, Q, ...) padded float32 tensor.
            gts: Field name -> (B, G, ...) padded tensor (``labels`` is long).
            img_shapes: (B, 2) float32 (h, w) per image, or None.

        Returns:
            Tensor: (B, Q, G) float32 cost.
        """
        raise NotImplementedError


def _gather_gt_columns(per_class: Tensor, labels: Tensor) -> Tensor:
    """Picks, for every gt, the column of its class.

    Args:
        per_class: (B, Q, C) values per query and class.
        labels: (B, G) long class indices.

    Returns:
        Tensor: (B, Q, G) with ``out[b, q, g] = per_class[b, q, labels[b, g]]``.
    """
    index = labels[:, None, :].expand(per_class.size(0), per_class.size(1), labels.size(1))
    return per_class.gather(2, index)


def _check_labels(labels: Tensor, num_classes: int, cost_name: str) -> None:
    """Raises ValueError when a gt label cannot index ``num_classes`` class scores."""
    if labels.numel() and bool(((labels < 0) | (labels >= num_classes)).any()):
        bad = labels[(labels < 0) | (labels >= num_classes)][0].item()
        raise ValueError(f'{cost_name}: gt label {bad} is out of range for scores with {num_classes} classes')


def batched_pairwise_l1(points1: Tensor, points2: Tensor) -> Tensor:
    """L1 distance of every pair of D-dim points, per batch item.

    Same values as ``torch.cdist(points1, points2, p=1)`` (coordinates summed in order), computed on contiguous
    (B, M, N) coordinate planes, which is faster on CPU for small D.

    Args:
        points1: (B, M, D).
        points2: (B, N, D).

    Returns:
        Tensor: (B, M, N) distances.
    """
    planes1 = points1.permute(2, 0, 1).contiguous()[..., None]  # (D, B, M, 1)
    planes2 = points2.permute(2, 0, 1).contiguous()[:, :, None, :]  # (D, B, 1, N)
    dist = (planes1[0] - planes2[0]).abs_()
    diff = torch.empty_like(dist)
    for dim in range(1, planes1.size(0)):
        dist += torch.sub(planes1[dim], planes2[dim], out=diff).abs_()
    return dist


def batched_pairwise_overlaps(bboxes1: Tensor, bboxes2: Tensor, mode: str = 'iou', eps: float = 1e-6) -> Tensor:
    """IoU / IoF / GIoU of every pair of boxes, per batch item, computed on contiguous coordinate planes.

    Gives exactly the values of ``mmdet.structures.bbox.bbox_overlaps(bboxes1, bboxes2, mode, is_aligned=False)``
    (the same float ops in the same order), but each op runs on a contiguous (B, M, N) tensor instead of strided
    (B, M, N, 2) slices, which is several times faster on CPU.

    Args:
        bboxes1: (B, M, 4) boxes, xyxy.
        bboxes2: (B, N, 4) boxes, xyxy.
        mode: 'iou', 'iof' (intersection over ``bboxes1`` area) or 'giou'.
        eps: Lower bound of the denominators.

    Returns:
        Tensor: (B, M, N) overlaps.
    """
    if mode not in ('iou', 'iof', 'giou'):
        raise ValueError(f'unsupported overlap mode {mode!r}; use "iou", "iof" or "giou"')
    # (4, B, M, 1) and (4, B, 1, N): each coordinate plane contiguous along its box axis
    x1a, y1a, x2a, y2a = bboxes1.permute(2, 0, 1).contiguous()[..., None]
    x1b, y1b, x2b, y2b = bboxes2.permute(2, 0, 1).contiguous()[:, :, None, :]
    inter_w = torch.minimum(x2a, x2b).sub_(torch.maximum(x1a, x1b)).clamp_(min=0)
    inter_h = torch.minimum(y2a, y2b).sub_(torch.maximum(y1a, y1b)).clamp_(min=0)
    overlap = inter_w.mul_(inter_h)
    area1 = (x2a - x1a) * (y2a - y1a)  # (B, M, 1)
    if mode == 'iof':
        union = area1.clamp_min(eps)
    else:
        area2 = (x2b - x1b) * (y2b - y1b)  # (B, 1, N)
        union = (area1 + area2).sub_(overlap).clamp_min_(eps)
    ious = overlap / union
    if mode != 'giou':
        return ious
    enclose_w = torch.maximum(x2a, x2b).sub_(torch.minimum(x1a, x1b)).clamp_(min=0)
    enclose_h = torch.maximum(y2a, y2b).sub_(torch.minimum(y1a, y1b)).clamp_(min=0)
    enclose = enclose_w.mul_(enclose_h).clamp_min_(eps)
    return ious.sub_(enclose.sub(union).div_(enclose))


@batched_version_of(FocalLossCost)
class BatchedFocalLossCost(BatchedMatchCostMixin, FocalLossCost):
    """Batched :class:`mmdet.models.task_modules.FocalLossCost` (same arguments, same values up to 1 ulp).

    Reads ``preds['scores']`` (B, Q, C) logits and ``gts['labels']`` (B, G). mmdet's mask cost
    (``binary_input=True``, Mask2Former's) is refused: no DETR-family assigner here matches masks.
    """

    pred_keys = ('scores', )
    gt_keys = ('labels', )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.binary_input:
            raise ValueError(f'{type(self).__name__}: binary_input=True (mask focal cost) is not supported; use '
                             "mmdet's HungarianAssigner for mask matching")

    def _focal_terms(self, logits: Tensor, inplace: bool = False) -> Tuple[Tensor, Tensor]:
        """Elementwise focal cost of calling each logit positive and of calling it negative.

        Same float ops in the same order as mmdet's ``FocalLossCost`` (``-a * b`` is computed as ``a * -b``, which
        is exact). Values can still differ by 1 ulp where torch evaluates sigmoid/log/pow with its scalar instead
        of its vectorised code (tensor tails), which depends on the tensor's shape.

        Args:
            logits: Logits of any shape.
            inplace: Whether ``logits`` may be overwritten (it is then reused for ``pos``).

        Returns:
            tuple[Tensor, Tensor]: (pos, neg), each shaped like ``logits``.
        """
        prob = logits.sigmoid_() if inplace else logits.sigmoid()
        one_minus = 1 - prob
        neg = (one_minus + self.eps).log_().mul_(-(1 - self.alpha)).mul_(prob.pow(self.gamma))
        pos = prob.add_(self.eps).log_().mul_(-self.alpha).mul_(one_minus.pow_(self.gamma))
        return pos, neg

    def _pos_minus_neg(self, logits: Tensor, inplace: bool = False) -> Tensor:
        """``pos - neg`` of :meth:`_focal_terms`, elementwise."""
        pos, neg = self._focal_terms(logits, inplace)
        return pos.sub_(neg)

    def batch_cost(self, preds: Dict[str, Tensor], gts: Dict[str, Tensor],
                   img_shapes: Optional[Tensor] = None) -> Tensor:
        logits, labels = preds['scores'], gts['labels']
        _check_labels(labels, logits.size(-1), type(self).__name__)
        if labels.size(1) <= logits.size(-1):
            # fewer gts than classes: only evaluate the needed columns
            cost = self._pos_minus_neg(_gather_gt_columns(logits, labels), inplace=True)
        else:
            cost = _gather_gt_columns(self._pos_minus_neg(logits), labels)
        return cost.mul_(self.weight)


@batched_version_of(ClassificationCost)
class BatchedClassificationCost(BatchedMatchCostMixin, ClassificationCost):
    """Batched :class:`mmdet.models.task_modules.ClassificationCost`: ``-softmax(scores)[label] * weight``.

    Reads ``preds['scores']`` (B, Q, C) logits and ``gts['labels']`` (B, G).
    """

    pred_keys = ('scores', )
    gt_keys = ('labels', )

    def batch_cost(self, preds: Dict[str, Tensor], gts: Dict[str, Tensor],
                   img_shapes: Optional[Tensor] = None) -> Tensor:
        logits, labels = preds['scores'], gts['labels']
        _check_labels(labels, logits.size(-1), type(self).__name__)
        return -_gather_gt_columns(logits.softmax(-1), labels) * self.weight


@batched_version_of(BBoxL1Cost)
class BatchedBBoxL1Cost(BatchedMatchCostMixin, BBoxL1Cost):
    """Batched :class:`mmdet.models.task_modules.BBoxL1Cost`.

    L1 distance between boxes normalised by each image's own (w, h, w, h), in ``box_format`` ('xyxy' or 'xywh',
    i.e. cx, cy, w, h). Reads ``preds['bboxes']`` (B, Q, 4), ``gts['bboxes']`` (B, G, 4) absolute xyxy and
    ``img_shapes`` (B, 2).
    """

    requires_img_shape = True

    pred_keys = ('bboxes', )
    gt_keys = ('bboxes', )

    def batch_cost(self, preds: Dict[str, Tensor], gts: Dict[str, Tensor],
                   img_shapes: Optional[Tensor] = None) -> Tensor:
        if img_shapes is None:
            raise ValueError(f'{type(self).__name__} needs img_shapes (img_meta["img_shape"] per image)')
        pred_bboxes, gt_bboxes = preds['bboxes'], gts['bboxes']
        if self.box_format == 'xywh':
            pred_bboxes = bbox_xyxy_to_cxcywh(pred_bboxes)
            gt_bboxes = bbox_xyxy_to_cxcywh(gt_bboxes)
        img_h, img_w = img_shapes.to(gt_bboxes).unbind(-1)
        scale = torch.stack([img_w, img_h, img_w, img_h], dim=-1)[:, None, :]  # (B, 1, 4)
        return batched_pairwise_l1(pred_bboxes / scale, gt_bboxes / scale).mul_(self.weight)


@batched_version_of(IoUCost)
class BatchedIoUCost(BatchedMatchCostMixin, IoUCost):
    """Batched :class:`mmdet.models.task_modules.IoUCost`: ``-overlap(pred, gt) * weight`` ('iou', 'giou', 'iof').

    Reads ``preds['bboxes']`` (B, Q, 4) and ``gts['bboxes']`` (B, G, 4), absolute xyxy.
    """

    pred_keys = ('bboxes', )
    gt_keys = ('bboxes', )

    def batch_cost(self, preds: Dict[str, Tensor], gts: Dict[str, Tensor],
                   img_shapes: Optional[Tensor] = None) -> Tensor:
        overlaps = batched_pairwise_overlaps(preds['bboxes'], gts['bboxes'], mode=self.iou_mode)
        return overlaps.mul_(-self.weight)


def build_batched_match_cost(cfg: Union[dict, ConfigDict]) -> BatchedMatchCostMixin:
    """Builds the batched match cost for an mmdet match-cost config.

    ``dict(type='FocalLossCost', weight=2.)`` builds :class:`BatchedFocalLossCost` with the same arguments; a
    config that already names a batched cost (``type='BatchedFocalLossCost'``) is built as is.

    Args:
        cfg: Match-cost config, with ``type`` a registered name or a class.

    Returns:
        The built batched match cost.

    Raises:
        KeyError: ``type`` is not registered in ``TASK_UTILS``.
        TypeError: the match cost has no batched implementation.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'a match cost must be a config dict with a "type", got {cfg!r}')
    cfg = copy.deepcopy(cfg)
    cost_type = cfg['type']
    cost_cls = TASK_UTILS.get(cost_type) if isinstance(cost_type, str) else cost_type
    if cost_cls is None:
        raise KeyError(f'match cost type {cost_type!r} is not registered in TASK_UTILS')
    if not (isinstance(cost_cls, type) and issubclass(cost_cls, BatchedMatchCostMixin)):
        batched_cls = BATCHED_MATCH_COSTS.get(cost_cls)
        if batched_cls is None:
            supported = sorted(c.__name__ for c in BATCHED_MATCH_COSTS)
            name = getattr(cost_cls, '__name__', cost_type)
            raise TypeError(f'match cost {name!r} has no batched implementation; supported: {supported} '
                            '(add one with @batched_version_of)')
        cfg['type'] = batched_cls
    return TASK_UTILS.build(cfg)
