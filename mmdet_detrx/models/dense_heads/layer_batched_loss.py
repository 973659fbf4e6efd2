"""Layer-batched one-to-one matching and losses for DETR-family heads.

:class:`LayerBatchedLossMixin` replaces the per-layer, per-image loop of mmdet's ``DETRHead.loss_by_feat`` (and of
its subclasses that keep its signature for the decoder outputs) with stages that see all decoder layers at once:
:meth:`~LayerBatchedLossMixin.match_layers` (one assigner call for every layer and image),
:meth:`~LayerBatchedLossMixin.targets_from_assignment`, :meth:`~LayerBatchedLossMixin.loss_by_targets` (losses of
given targets, e.g. Co-DETR's fixed one-to-many targets) and :meth:`~LayerBatchedLossMixin.layer_losses_to_dict`
(mmdet's keys ``loss_cls``, ``d0.loss_cls``, ...). For the same predictions and assignment the losses equal mmdet's.
Mix it in before an mmdet head (it uses the head's ``assigner``, ``loss_cls`` / ``loss_bbox`` / ``loss_iou``,
``num_classes``, ``bg_cls_weight`` and ``sync_cls_avg_factor``); the head keeps its own ``forward`` and ``predict``.
"""
from typing import Dict, List, NamedTuple, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from mmdet.utils import InstanceList, OptInstanceList, reduce_mean

_EPS = torch.finfo(torch.float32).eps  # mmdet's weight_reduce_loss adds it to every avg_factor


class LayerTargets(NamedTuple):
    """Training targets of all decoder layers of one query group.

    Attributes:
        labels (Tensor): (L, B, Q) long, ``num_classes`` for background.
        label_weights (Tensor): (L, B, Q).
        bbox_targets (Tensor): (L, B, Q, 4) normalized (cx, cy, w, h); zeros where not positive.
        bbox_weights (Tensor): (L, B, Q, 4); a query is positive where any weight is > 0.
        num_pos (Tensor): (L,) number of positive queries per layer (all images).
        num_neg (Tensor): (L,) number of negative queries per layer (all images).
    """
    labels: Tensor
    label_weights: Tensor
    bbox_targets: Tensor
    bbox_weights: Tensor
    num_pos: Tensor
    num_neg: Tensor



def layer_losses_to_dict(losses_cls: Tensor, losses_bbox: Tensor, losses_iou: Tensor, loss_prefix: str = '',
                         name_prefix: str = '', **more_losses: Tensor) -> Dict[str, Tensor]:
    """(L,) per-layer losses -> mmdet's loss dict of the DETR family: the last decoder layer unprefixed
    (``loss_cls``, ``loss_bbox``, ``loss_iou``), the earlier ones ``d{i}.loss_*``, every key after ``loss_prefix``.

    Args:
        losses_cls, losses_bbox, losses_iou (Tensor): (L,) each, or sequences of L scalars.
        loss_prefix (str): prepended to every key (e.g. ``'aux0.q.'`` for a Co-DETR query group).
        name_prefix (str): prepended to the loss names after the layer tag (``'dn_'`` gives DINO's
            ``dn_loss_cls``, ``d0.dn_loss_cls``, ...).
        **more_losses (Tensor): further (L,) losses by name (e.g. ``loss_feature``), each layer's after its
            three others.

    Returns:
        dict[str, Tensor]: (3 + len(more_losses)) L entries, the last layer first.
    """
    num_layers = len(losses_cls)
    named = dict(loss_cls=losses_cls, loss_bbox=losses_bbox, loss_iou=losses_iou, **more_losses)
    loss_dict = dict()
    for layer_id in [num_layers - 1] + list(range(num_layers - 1)):
        tag = '' if layer_id == num_layers - 1 else f'd{layer_id}.'
        for name, losses in named.items():
            loss_dict[f'{loss_prefix}{tag}{name_prefix}{name}'] = losses[layer_id]
    return loss_dict


class LayerBatchedLossMixin:
    """Layer-batched matching and losses of a DETR-style head (see the module docstring).

    The decoder outputs are ``all_layers_cls_scores`` (L, B, Q, C) logits (sigmoid or softmax with a background
    class, as the head's ``loss_cls``) and ``all_layers_bbox_preds`` (L, B, Q, 4) normalized (cx, cy, w, h). The
    matcher sees detached predictions; ``assigner.batch_assign`` is used when the assigner has it (e.g.
    ``BatchedHungarianAssigner``), else the per-image ``assign`` of e.g. mmdet's ``HungarianAssigner``.
    """

    def loss_by_feat(self,
                     all_layers_cls_scores: Tensor,
                     all_layers_bbox_preds: Tensor,
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None,
                     loss_prefix: str = '',
                     **extra_inputs) -> Dict[str, Tensor]:
        """Matches every layer's predictions to the ground truth and computes the losses.

        Args:
            all_layers_cls_scores (Tensor): (L, B, Q, C) logits.
            all_layers_bbox_preds (Tensor): (L, B, Q, 4) normalized (cx, cy, w, h).
            batch_gt_instances (list[InstanceData]): per image ``bboxes`` (G, 4) xyxy in pixels of the
                input image and ``labels`` (G,).
            batch_img_metas (list[dict]): per image metainfo with ``img_shape``.
            batch_gt_instances_ignore: must be None.
            loss_prefix (str): prepended to every key. Defaults to ''.
            **extra_inputs: what a head's :meth:`more_layer_losses` needs (e.g. UP-DETR's patch features).

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_iou`` (and the head's further losses) of the
            last layer and ``d{i}.loss_*`` of the earlier ones.
        """
        if batch_gt_instances_ignore is not None:
            raise ValueError(f'{type(self).__name__} does not support batch_gt_instances_ignore')
        gt_inds = self.match_layers(all_layers_cls_scores, all_layers_bbox_preds, batch_gt_instances,
                                    batch_img_metas)
        targets = self.targets_from_assignment(gt_inds, batch_gt_instances, batch_img_metas)
        losses = self.loss_by_targets(all_layers_cls_scores, all_layers_bbox_preds, targets, batch_img_metas)
        more = self.more_layer_losses(gt_inds, targets, batch_gt_instances, **extra_inputs)
        return self.layer_losses_to_dict(*losses, loss_prefix=loss_prefix, **more)

    def more_layer_losses(self, gt_inds: Tensor, targets: LayerTargets, batch_gt_instances: InstanceList,
                          **extra_inputs) -> Dict[str, Tensor]:
        """The method-specific losses of every layer from the same assignment (the extension point of a head).

        Args:
            gt_inds (Tensor): (L, B, Q) long, 1-based matched gt index, 0 background.
            targets (LayerTargets): the targets of that assignment.
            batch_gt_instances (list[InstanceData]): B items.
            **extra_inputs: the head's own inputs, passed on by :meth:`loss_by_feat`.

        Returns:
            dict[str, Tensor]: name -> (L,) losses; none here.
        """
        if extra_inputs:
            raise TypeError(f'{type(self).__name__}.loss_by_feat got unexpected inputs {sorted(extra_inputs)}')
        return {}

    layer_losses_to_dict = staticmethod(layer_losses_to_dict)

    def match_layers(self, all_layers_cls_scores: Tensor, all_layers_bbox_preds: Tensor,
                     batch_gt_instances: InstanceList, batch_img_metas: List[dict]) -> Tensor:
        """One-to-one matching of every (layer, image) pair, batched over both when the assigner can.

        Args:
            all_layers_cls_scores (Tensor): (L, B, Q, C) logits.
            all_layers_bbox_preds (Tensor): (L, B, Q, 4) normalized (cx, cy, w, h).
            batch_gt_instances (list[InstanceData]): B items.
            batch_img_metas (list[dict]): B items.

        Returns:
            Tensor: (L, B, Q) long, the assigned 1-based gt index, 0 for background (-1: ignore).
        """
        num_layers, batch_size, num_queries = all_layers_cls_scores.shape[:3]
        if len(batch_gt_instances) != batch_size or len(batch_img_metas) != batch_size:
            raise ValueError(f'predictions are for {batch_size} images but got {len(batch_gt_instances)} '
                             f'gt instances and {len(batch_img_metas)} img metas')
        factors = self._image_factors(batch_img_metas, all_layers_bbox_preds)
        pred_bboxes = bbox_cxcywh_to_xyxy(all_layers_bbox_preds.detach()) * factors[None, :, None]
        cls_scores = all_layers_cls_scores.detach()
        preds = [
            InstanceData(scores=cls_scores[i, j], bboxes=pred_bboxes[i, j]) for i in range(num_layers)
            for j in range(batch_size)
        ]
        gts = batch_gt_instances * num_layers
        metas = batch_img_metas * num_layers
        if hasattr(self.assigner, 'batch_assign'):
            results = self.assigner.batch_assign(preds, gts, metas)
        else:
            results = [self.assigner.assign(pred_instances=p, gt_instances=g, img_meta=m)
                       for p, g, m in zip(preds, gts, metas)]
        return torch.stack([r.gt_inds for r in results]).view(num_layers, batch_size, num_queries)

    def targets_from_assignment(self, gt_inds: Tensor, batch_gt_instances: InstanceList,
                                batch_img_metas: List[dict]) -> LayerTargets:
        """Builds targets from an assignment.

        Args:
            gt_inds (Tensor): (L, B, Q) long, 1-based gt index, 0 background, -1 ignored (as background
                with weight 1, like mmdet's DETR heads).
            batch_gt_instances (list[InstanceData]): B items with ``bboxes`` (G, 4) and ``labels`` (G,).
            batch_img_metas (list[dict]): B items with ``img_shape``.

        Returns:
            LayerTargets: the targets.
        """
        num_layers, batch_size, num_queries = gt_inds.shape
        device = gt_inds.device
        pos = gt_inds > 0
        factors = self._image_factors(batch_img_metas, gt_inds)
        box_dtype = batch_gt_instances[0].bboxes.dtype if batch_size else torch.float32
        labels = gt_inds.new_full((num_layers, batch_size, num_queries), self.num_classes)
        bbox_targets = torch.zeros((num_layers, batch_size, num_queries, 4), dtype=box_dtype, device=device)
        for img_id, gt_instances in enumerate(batch_gt_instances):
            img_pos = pos[:, img_id]
            if not bool(img_pos.any()):
                continue
            matched = gt_inds[:, img_id][img_pos] - 1
            gt_norm = bbox_xyxy_to_cxcywh(gt_instances.bboxes / factors[img_id])
            labels[:, img_id][img_pos] = gt_instances.labels[matched]
            bbox_targets[:, img_id][img_pos] = gt_norm[matched].to(box_dtype)
        label_weights = torch.ones((num_layers, batch_size, num_queries), dtype=box_dtype, device=device)
        bbox_weights = pos[..., None].expand(-1, -1, -1, 4).to(box_dtype)
        return LayerTargets(labels, label_weights, bbox_targets, bbox_weights,
                            num_pos=pos.sum((1, 2)), num_neg=(gt_inds == 0).sum((1, 2)))

    def loss_by_targets(self, all_layers_cls_scores: Tensor, all_layers_bbox_preds: Tensor, targets: LayerTargets,
                        batch_img_metas: List[dict]) -> Tuple[Tensor, Tensor, Tensor]:
        """Classification, L1 and IoU losses of every layer from given targets.

        Normalization as mmdet's DETR heads: the classification loss by ``num_pos + bg_cls_weight * num_neg``,
        the box losses by ``num_pos`` (both averaged over ranks, at least 1).

        Args:
            all_layers_cls_scores (Tensor): (L, B, Q, C) logits.
            all_layers_bbox_preds (Tensor): (L, B, Q, 4) normalized (cx, cy, w, h).
            targets (LayerTargets): targets of the same (L, B, Q).
            batch_img_metas (list[dict]): B items with ``img_shape`` (to compute the IoU loss in pixels).

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``losses_cls``, ``losses_bbox``, ``losses_iou``, each (L,).
        """
        num_layers, batch_size, num_queries, num_channels = all_layers_cls_scores.shape
        if tuple(targets.labels.shape) != (num_layers, batch_size, num_queries):
            raise ValueError(f'targets are for (L, B, Q)={tuple(targets.labels.shape)} but the predictions '
                             f'are for {(num_layers, batch_size, num_queries)}')
        cls_avg_factor = targets.num_pos.float() + targets.num_neg.float() * self.bg_cls_weight
        if self.sync_cls_avg_factor:
            cls_avg_factor = reduce_mean(cls_avg_factor)
        cls_avg_factor = cls_avg_factor.clamp(min=1)
        loss_cls = self.loss_cls(
            all_layers_cls_scores.reshape(-1, num_channels).float(),
            targets.labels.reshape(-1),
            targets.label_weights.reshape(-1),
            reduction_override='none')
        losses_cls = loss_cls.reshape(num_layers, -1).sum(1) / (cls_avg_factor + _EPS)

        box_avg_factor = reduce_mean(targets.num_pos.float()).clamp(min=1) + _EPS
        pos = (targets.bbox_weights > 0).any(-1)
        if not bool(pos.any()):
            zero = all_layers_bbox_preds.sum((1, 2, 3)) * 0
            return losses_cls, zero, zero.clone()
        layer_ids, img_ids, _ = pos.nonzero(as_tuple=True)
        # float32 box losses: under autocast the predictions may be bf16/fp16 while targets and weights are float32
        pos_preds = all_layers_bbox_preds[pos].float()
        pos_targets = targets.bbox_targets[pos].float()
        pos_weights = targets.bbox_weights[pos]
        loss_bbox = self.loss_bbox(pos_preds, pos_targets, pos_weights, reduction_override='none')
        losses_bbox = pos_preds.new_zeros(num_layers).index_add(0, layer_ids, loss_bbox.sum(-1)) / box_avg_factor
        factors = self._image_factors(batch_img_metas, pos_preds)[img_ids]
        loss_iou = self.loss_iou(
            bbox_cxcywh_to_xyxy(pos_preds) * factors,
            bbox_cxcywh_to_xyxy(pos_targets) * factors,
            pos_weights,
            reduction_override='none')
        losses_iou = pos_preds.new_zeros(num_layers).index_add(0, layer_ids, loss_iou) / box_avg_factor
        return losses_cls, losses_bbox, losses_iou

    @staticmethod
    def _image_factors(batch_img_metas: List[dict], like: Tensor) -> Tensor:
        """(B, 4) ``[w, h, w, h]`` of every image's ``img_shape``, on ``like``'s device."""
        dtype = like.dtype if like.is_floating_point() else torch.float32
        shapes = [meta['img_shape'][:2] for meta in batch_img_metas]
        return torch.tensor([[w, h, w, h] for h, w in shapes], dtype=dtype, device=like.device)
