"""DETR-family heads for Co-DETR: the base head's loss plus the loss of customized positive query groups.

:class:`CoQueryHeadMixin` adds to any mmdet DETR-style head (``DETRHead`` subclasses: DINO, Deformable DETR,
Conditional DETR) what Co-DETR needs from it:

* :meth:`~CoQueryHeadMixin.loss_aux_queries`: the loss of one extra query group trained with the auxiliary
  head's assignment as *fixed* targets (no Hungarian matching), on every decoder layer;
* float32 loss and assignment under autocast (the base ``loss_by_feat`` runs with autocast disabled on
  float32 inputs: no NaN matching costs, no ``index_put`` dtype errors for quality-focal targets);
* optional NMS after the top-k selection at test time (``test_cfg.nms``, as the Co-DINO release uses).

:class:`DetrxCoDINOHead`, :class:`DetrxCoDeformableDETRHead`, :class:`DetrxCoDABDETRHead` and
:class:`DetrxCoDETRHead` are the mixin on mmdet's heads (config-compatible with them).
"""
from typing import Dict, List, Tuple

import torch
from mmcv.ops import batched_nms
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.dense_heads import DABDETRHead, DeformableDETRHead, DETRHead, DINOHead
from mmdet.models.losses import QualityFocalLoss
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
from mmdet.utils import reduce_mean

from ..autocast import float32_scope, to_float32
from ..layers.co_detr_layers import CoQueryGroup
from .layer_batched_loss import layer_losses_to_dict
from .softmax_weights import SoftmaxNoObjectMixin


class CoQueryHeadMixin:
    """Co-DETR additions for a DETR-style head; mix in before the mmdet head class."""

    #: DETR's top-k post-processing (plus an optional ``test_cfg.nms``): the ONNX export reproduces it
    detr_topk_postprocess = True

    def loss_by_feat(self, *args, **kwargs) -> Dict[str, Tensor]:
        """The base head's ``loss_by_feat`` on float32 inputs with autocast disabled."""
        args, kwargs = to_float32(args), to_float32(kwargs)
        with float32_scope(args, kwargs):
            return super().loss_by_feat(*args, **kwargs)

    def loss_aux_queries(self, all_layers_cls_scores: Tensor, all_layers_bbox_preds: Tensor,
                         group: CoQueryGroup, batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """Loss of one customized positive query group on every decoder layer.

        Args:
            all_layers_cls_scores: Logits, shape (num_layers, bs, num_queries, cls_out_channels).
            all_layers_bbox_preds: Normalized (cx, cy, w, h) predictions, shape (num_layers, bs,
                num_queries, 4).
            group: The query group with its fixed targets and padding mask.
            batch_img_metas: Per image meta (``img_shape`` rescales boxes for the IoU loss).

        Returns:
            ``loss_cls``, ``loss_bbox``, ``loss_iou`` of the last layer and ``d{i}.loss_*`` of the others.
        """
        all_layers_cls_scores = all_layers_cls_scores.float()
        all_layers_bbox_preds = all_layers_bbox_preds.float()
        with float32_scope(all_layers_cls_scores):
            per_layer = [
                self._loss_fixed_targets_single(all_layers_cls_scores[layer_id], all_layers_bbox_preds[layer_id], group,
                                                batch_img_metas)
                for layer_id in range(all_layers_cls_scores.shape[0])
            ]
        return layer_losses_to_dict(*zip(*per_layer))

    def _loss_fixed_targets_single(self, cls_scores: Tensor, bbox_preds: Tensor, group: CoQueryGroup,
                                   batch_img_metas: List[dict]) -> Tuple[Tensor, Tensor, Tensor]:
        """Classification, L1 and IoU losses of one decoder layer against the group's fixed targets.

        Args:
            cls_scores: Logits, shape (bs, num_queries, cls_out_channels).
            bbox_preds: Normalized (cx, cy, w, h) predictions, shape (bs, num_queries, 4).
            group: Fixed targets; padding queries get zero weight everywhere.
            batch_img_metas: Per image meta.

        Returns:
            ``(loss_cls, loss_bbox, loss_iou)``.
        """
        valid = group.valid.reshape(-1)
        labels = group.labels.reshape(-1)
        bbox_targets = group.bbox_targets.reshape(-1, 4)
        label_weights = valid.float()
        bbox_weights = valid.float()[:, None].expand(-1, 4)
        cls_scores = cls_scores.reshape(-1, self.cls_out_channels)
        bbox_preds = bbox_preds.reshape(-1, 4)

        num_pos = int(((labels >= 0) & (labels < self.num_classes) & valid).sum())
        cls_avg_factor = float(num_pos)
        if self.sync_cls_avg_factor:
            cls_avg_factor = reduce_mean(cls_scores.new_tensor([cls_avg_factor]))
        cls_avg_factor = max(cls_avg_factor, 1)
        if isinstance(self.loss_cls, QualityFocalLoss):
            # IoU-aware classification targets: IoU of each (detached) prediction with its target.
            iou_targets = torch.zeros_like(label_weights)
            pos = valid & (labels < self.num_classes)
            if pos.any():
                iou_targets[pos] = bbox_overlaps(
                    bbox_cxcywh_to_xyxy(bbox_preds[pos].detach()), bbox_cxcywh_to_xyxy(bbox_targets[pos]),
                    is_aligned=True)
            loss_cls = self.loss_cls(cls_scores, (labels, iou_targets), label_weights,
                                     avg_factor=cls_avg_factor)
        else:
            loss_cls = self.loss_cls(cls_scores, labels, label_weights, avg_factor=cls_avg_factor)

        num_boxes = torch.clamp(reduce_mean(cls_scores.new_tensor([num_pos])), min=1).item()
        factors = torch.cat([
            bbox_preds.new_tensor([m['img_shape'][1], m['img_shape'][0]] * 2)[None].expand(group.num_queries, 4)
            for m in batch_img_metas
        ])
        loss_iou = self.loss_iou(bbox_cxcywh_to_xyxy(bbox_preds) * factors,
                                 bbox_cxcywh_to_xyxy(bbox_targets) * factors, bbox_weights,
                                 avg_factor=num_boxes)
        loss_bbox = self.loss_bbox(bbox_preds, bbox_targets, bbox_weights, avg_factor=num_boxes)
        return loss_cls, loss_bbox, loss_iou

    def _predict_by_feat_single(self, cls_score: Tensor, bbox_pred: Tensor, img_meta: dict,
                                rescale: bool = True) -> InstanceData:
        """The base top-k post-processing, then class-wise NMS when ``test_cfg.nms`` is set."""
        results = super()._predict_by_feat_single(cls_score, bbox_pred, img_meta, rescale)
        nms_cfg = self.test_cfg.get('nms', None) if self.test_cfg is not None else None
        if nms_cfg is None or len(results) == 0:
            return results
        max_per_img = self.test_cfg.get('max_per_img', len(results))
        dets, keep = batched_nms(results.bboxes.float(), results.scores.float(), results.labels, nms_cfg)
        results = results[keep]
        results.scores = dets[:, -1]  # soft-NMS rescores
        return results[:max_per_img]


@MODELS.register_module()
class DetrxCoDINOHead(CoQueryHeadMixin, DINOHead):
    """mmdet's :class:`~mmdet.models.dense_heads.DINOHead` with Co-DETR's query-group loss, float32 losses
    under autocast and optional test-time NMS (see :class:`CoQueryHeadMixin`). Config-compatible with
    ``DINOHead``."""


@MODELS.register_module()
class DetrxCoDeformableDETRHead(CoQueryHeadMixin, DeformableDETRHead):
    """mmdet's :class:`~mmdet.models.dense_heads.DeformableDETRHead` with Co-DETR's query-group loss,
    float32 losses under autocast and optional test-time NMS (see :class:`CoQueryHeadMixin`)."""


@MODELS.register_module()
class DetrxCoDABDETRHead(CoQueryHeadMixin, DABDETRHead):
    """mmdet's :class:`~mmdet.models.dense_heads.DABDETRHead` with Co-DETR's query-group loss and float32
    losses under autocast (see :class:`CoQueryHeadMixin`)."""


@MODELS.register_module()
class DetrxCoDETRHead(CoQueryHeadMixin, SoftmaxNoObjectMixin, DETRHead):
    """mmdet's :class:`~mmdet.models.dense_heads.DETRHead` with Co-DETR's query-group loss (softmax
    classification: padding and negatives get the background class with zero / unit weight) and float32
    losses under autocast (see :class:`CoQueryHeadMixin`). ``loss_cls.bg_cls_weight`` works as in ``DETRHead``."""
