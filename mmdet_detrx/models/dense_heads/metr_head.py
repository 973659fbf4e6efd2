"""METR's head: one binary logit per class-specific query ("an object of my category, or not")."""
from typing import Dict, List, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.dense_heads import DeformableDETRHead
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from mmdet.utils import InstanceList, reduce_mean
from .layer_batched_loss import layer_losses_to_dict

SCORE_COMBINATIONS = ('geometric_mean', 'product', 'box')


@MODELS.register_module()
class METRHead(DeformableDETRHead):
    """Deformable-DETR head whose classifier has ONE logit per query, for METR's class-specific queries.

    Each query is bound to a category of its image's label space (``query_labels``, LOCAL ids, -1 unbound),
    so the classifier only says whether the query found an object of that category. ``num_classes`` is
    therefore fixed to 1 (binary logit; target label 0 = positive, 1 = background, as mmdet's sigmoid
    ``FocalLoss`` expects) and ``loss_cls`` must use sigmoid.

    Training: per decoder layer, ``assigner`` (``GroupHungarianAssigner``) matches queries to gts of their own
    category only; matched queries are positives (label 0, box targets), all others negatives (unbound queries
    and queries of categories absent from the image included). Losses as Deformable DETR: focal loss over all
    queries averaged over the number of positives, L1 and GIoU over positives.

    Inference: the last layer's boxes take their query's category; the score combines the box's
    ``p_box = sigmoid(logit)`` with the image-level category score ``p_cat`` of the extractor:

    * ``'geometric_mean'`` (default): ``sqrt(p_box * p_cat)``; keeps scores in the range of either factor and
      ranks a box of a clearly present category above an equally confident box of a doubtful one.
    * ``'product'``: ``p_box * p_cat``.
    * ``'box'``: ``p_box`` alone.

    Unbound queries are never returned; at most ``test_cfg.max_per_img`` (100) boxes per image.

    Args:
        score_combination: One of ``'geometric_mean'``, ``'product'``, ``'box'``.
        *args, **kwargs: As ``DeformableDETRHead`` (``num_classes`` must be 1 or left out).
    """

    def __init__(self, *args, num_classes: int = 1, score_combination: str = 'geometric_mean', **kwargs) -> None:
        if num_classes != 1:
            raise ValueError(f'METRHead has one binary logit per query (num_classes=1), got num_classes='
                             f'{num_classes}; the categories come from the label spaces of the detector')
        if score_combination not in SCORE_COMBINATIONS:
            raise ValueError(f'score_combination must be one of {SCORE_COMBINATIONS}, got {score_combination!r}')
        self.score_combination = score_combination
        super().__init__(*args, num_classes=1, **kwargs)
        if not self.loss_cls.use_sigmoid:
            raise ValueError('METRHead needs a sigmoid classification loss (one binary logit per query)')

    def loss(self, hidden_states: Tensor, references: List[Tensor], query_labels: Tensor,
             batch_data_samples: SampleList, **kwargs) -> Dict[str, Tensor]:
        """Losses of all decoder layers.

        Args:
            hidden_states: (L, B, Q, C) decoder outputs.
            references: L + 1 references, each (B, Q, 2 or 4).
            query_labels: (B, Q) LOCAL category per query, -1 unbound.
            batch_data_samples: With ``gt_instances`` (LOCAL labels) and metainfo.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_iou`` and ``d{i}.*`` for earlier layers.
        """
        batch_gt_instances = [s.gt_instances for s in batch_data_samples]
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        all_cls, all_coords = self(hidden_states, references)
        return self.loss_by_query_labels(all_cls, all_coords, query_labels, batch_gt_instances, batch_img_metas)

    def loss_by_query_labels(self, all_layers_cls_scores: Tensor, all_layers_bbox_preds: Tensor,
                             query_labels: Tensor, batch_gt_instances: InstanceList,
                             batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """Losses from the head outputs (see :meth:`loss`).

        Args:
            all_layers_cls_scores: (L, B, Q, 1) logits.
            all_layers_bbox_preds: (L, B, Q, 4) normalized (cx, cy, w, h).
            query_labels: (B, Q).
            batch_gt_instances: Per image ``labels`` (G, ) and ``bboxes`` (G, 4) absolute xyxy.
            batch_img_metas: Per image, with ``img_shape``.
        """
        per_layer = [
            self.loss_single_layer(all_layers_cls_scores[layer], all_layers_bbox_preds[layer], query_labels,
                                   batch_gt_instances, batch_img_metas)
            for layer in range(all_layers_cls_scores.size(0))
        ]
        return layer_losses_to_dict(*zip(*per_layer))

    def match(self, cls_scores: Tensor, bbox_preds: Tensor, query_labels: Tensor, batch_gt_instances: InstanceList,
              batch_img_metas: List[dict]) -> Tensor:
        """Group Hungarian matching of one layer.

        Args:
            cls_scores: (B, Q, 1) logits.
            bbox_preds: (B, Q, 4) normalized (cx, cy, w, h).
            query_labels: (B, Q).
            batch_gt_instances: Per image ``labels`` and ``bboxes``.
            batch_img_metas: Per image, with ``img_shape``.

        Returns:
            Tensor: (B, Q) long, 0 for unmatched, else 1-based gt index.
        """
        preds = []
        for i, meta in enumerate(batch_img_metas):
            img_h, img_w = meta['img_shape']
            factor = bbox_preds.new_tensor([img_w, img_h, img_w, img_h])
            preds.append(
                InstanceData(
                    scores=cls_scores[i].detach(),
                    bboxes=bbox_cxcywh_to_xyxy(bbox_preds[i].detach()) * factor,
                    query_labels=query_labels[i]))
        if hasattr(self.assigner, 'batch_assign'):
            results = self.assigner.batch_assign(preds, batch_gt_instances, batch_img_metas)
        else:
            results = [self.assigner.assign(p, g, img_meta=m) for p, g, m in zip(preds, batch_gt_instances,
                                                                                   batch_img_metas)]
        return torch.stack([r.gt_inds for r in results])

    def loss_single_layer(self, cls_scores: Tensor, bbox_preds: Tensor, query_labels: Tensor,
                          batch_gt_instances: InstanceList, batch_img_metas: List[dict]) -> Tuple[Tensor, Tensor,
                                                                                                    Tensor]:
        """Matching, targets and the three losses of one decoder layer (arguments as :meth:`match`)."""
        gt_inds = self.match(cls_scores, bbox_preds, query_labels, batch_gt_instances, batch_img_metas)
        positive = gt_inds > 0
        labels = (~positive).long()  # 0 = "an object of my category", 1 = background
        bbox_targets = torch.zeros_like(bbox_preds)
        factors = torch.zeros_like(bbox_preds)
        for i, (gt, meta) in enumerate(zip(batch_gt_instances, batch_img_metas)):
            img_h, img_w = meta['img_shape']
            factor = bbox_preds.new_tensor([img_w, img_h, img_w, img_h])
            factors[i] = factor
            pos = positive[i]
            if bool(pos.any()):
                gt_boxes = gt.bboxes[gt_inds[i, pos] - 1].to(bbox_preds.dtype)
                bbox_targets[i, pos] = bbox_xyxy_to_cxcywh(gt_boxes / factor)
        num_pos = float(positive.sum())
        cls_avg_factor = num_pos
        if self.sync_cls_avg_factor:
            cls_avg_factor = float(reduce_mean(cls_scores.new_tensor([cls_avg_factor])))
        loss_cls = self.loss_cls(cls_scores.reshape(-1, 1), labels.reshape(-1), avg_factor=max(cls_avg_factor, 1.0))
        num_pos_avg = max(float(reduce_mean(cls_scores.new_tensor([num_pos]))), 1.0)
        weights = positive.unsqueeze(-1).expand_as(bbox_preds).to(bbox_preds.dtype)
        flat_preds = bbox_preds.reshape(-1, 4)
        flat_targets = bbox_targets.reshape(-1, 4)
        flat_factors = factors.reshape(-1, 4)
        flat_weights = weights.reshape(-1, 4)
        loss_bbox = self.loss_bbox(flat_preds, flat_targets, flat_weights, avg_factor=num_pos_avg)
        loss_iou = self.loss_iou(
            bbox_cxcywh_to_xyxy(flat_preds) * flat_factors,
            bbox_cxcywh_to_xyxy(flat_targets) * flat_factors,
            flat_weights,
            avg_factor=num_pos_avg)
        return loss_cls, loss_bbox, loss_iou

    def predict(self,
                hidden_states: Tensor,
                references: List[Tensor],
                query_labels: Tensor,
                category_scores: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True,
                **kwargs) -> InstanceList:
        """Detections of the last decoder layer with LOCAL labels.

        Args:
            hidden_states: (L, B, Q, C).
            references: L + 1 references.
            query_labels: (B, Q) LOCAL category per query, -1 unbound.
            category_scores: (B, N_max) image-level category probabilities (0 at padding).
            batch_data_samples: For the metainfo.
            rescale: Boxes in original image coordinates.

        Returns:
            list[InstanceData]: ``bboxes`` (n, 4), ``scores`` (n, ), ``labels`` (n, ) LOCAL, n <= max_per_img.
        """
        all_cls, all_coords = self(hidden_states, references)
        metas = [s.metainfo for s in batch_data_samples]
        return [
            self.predict_single(all_cls[-1][i], all_coords[-1][i], query_labels[i], category_scores[i], metas[i],
                                rescale) for i in range(len(metas))
        ]

    def combine_scores(self, box_probs: Tensor, category_probs: Tensor) -> Tensor:
        """Final detection score from the box and category probabilities (see the class docstring)."""
        if self.score_combination == 'geometric_mean':
            return (box_probs * category_probs).clamp(min=0).sqrt()
        if self.score_combination == 'product':
            return box_probs * category_probs
        return box_probs

    def predict_single(self, cls_score: Tensor, bbox_pred: Tensor, query_labels: Tensor, category_scores: Tensor,
                       img_meta: dict, rescale: bool = True) -> InstanceData:
        """Detections of one image.

        Args:
            cls_score: (Q, 1) logits.
            bbox_pred: (Q, 4) normalized (cx, cy, w, h).
            query_labels: (Q, ) LOCAL category, -1 unbound.
            category_scores: (N_max, ) category probabilities.
            img_meta: With ``img_shape`` (and ``scale_factor`` when ``rescale``).
            rescale: Boxes in original image coordinates.
        """
        bound = torch.nonzero(query_labels >= 0, as_tuple=True)[0]
        labels = query_labels[bound]
        scores = self.combine_scores(cls_score[bound, 0].sigmoid(), category_scores[labels])
        max_per_img = min(int(self.test_cfg.get('max_per_img', 100)), len(bound))
        scores, order = scores.topk(max_per_img)
        keep = bound[order]
        return InstanceData(bboxes=self.boxes_in_image(bbox_pred[keep], img_meta, rescale), scores=scores,
                            labels=query_labels[keep])

    @staticmethod
    def boxes_in_image(bbox_pred: Tensor, img_meta: dict, rescale: bool = True) -> Tensor:
        """Normalized (cx, cy, w, h) boxes as absolute xyxy clipped to the network input, optionally mapped back to
        the original image.

        Args:
            bbox_pred: (n, 4) normalized (cx, cy, w, h).
            img_meta: With ``img_shape`` (and ``scale_factor`` when ``rescale``).
            rescale: Divide by ``scale_factor`` (original image coordinates).

        Returns:
            Tensor: (n, 4) xyxy.
        """
        img_h, img_w = img_meta['img_shape']
        bboxes = bbox_cxcywh_to_xyxy(bbox_pred)
        bboxes[:, 0::2] = (bboxes[:, 0::2] * img_w).clamp(min=0, max=img_w)
        bboxes[:, 1::2] = (bboxes[:, 1::2] * img_h).clamp(min=0, max=img_h)
        if rescale:
            if img_meta.get('scale_factor') is None:
                raise KeyError('rescale=True needs scale_factor in the image metainfo')
            bboxes = bboxes / bboxes.new_tensor(img_meta['scale_factor']).repeat((1, 2))
        return bboxes

    def loss_and_predict(self, *args, **kwargs):
        """Not used by METR (the detector calls :meth:`loss` and :meth:`predict`)."""
        raise NotImplementedError('METRHead.loss_and_predict is not supported')

