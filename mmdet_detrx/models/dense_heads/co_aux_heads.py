"""One-to-many auxiliary dense heads for Co-DETR that expose the positives of their assignment.

Each head is mmdet's own head; the subclass only observes the targets that the head's ``get_targets``
computes anyway and keeps, per image, the positive priors turned into boxes together with their assigned
labels and matched ground-truth boxes. :class:`~mmdet_detrx.models.detectors.DetrxCoDETR` reads them with
:meth:`CoPositivesMixin.pop_positives` right after the head's loss and turns them into extra decoder queries.
"""
from typing import List, Optional

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.dense_heads import ATSSHead, FCOSHead
from mmdet.registry import MODELS


class CoPositivesMixin:
    """Keeps the positives of the last target computation; see :meth:`pop_positives`."""

    _co_positives: Optional[List[InstanceData]] = None

    def pop_positives(self) -> List[InstanceData]:
        """Positives of the last loss computation, then forgets them.

        Returns:
            Per image an :class:`InstanceData` with ``priors`` (n, 4) the positive prior boxes, ``labels``
            (n, ) their assigned classes and ``gt_bboxes`` (n, 4) the matched ground truth, all boxes as
            pixel (x1, y1, x2, y2).
        """
        positives, self._co_positives = self._co_positives, None
        assert positives is not None, f'{type(self).__name__} computed no targets since the last pop'
        return positives

    def _keep_positives(self, priors: Tensor, labels: Tensor, gt_bboxes: Tensor) -> InstanceData:
        pos = (labels >= 0) & (labels < self.num_classes)
        return InstanceData(priors=priors[pos], labels=labels[pos], gt_bboxes=gt_bboxes[pos])


@MODELS.register_module()
class DetrxCoATSSHead(CoPositivesMixin, ATSSHead):
    """mmdet's :class:`~mmdet.models.dense_heads.ATSSHead` that exposes its positive anchors.

    Positive boxes are the ATSS-positive anchors themselves; their targets the matched ground truth.
    """

    def get_targets(self, *args, **kwargs) -> tuple:
        targets = super().get_targets(*args, **kwargs)
        anchors_list, labels_list, _, bbox_targets_list = targets[:4]
        anchors = torch.cat(anchors_list, dim=1)  # (num_imgs, num_anchors, 4)
        labels = torch.cat(labels_list, dim=1)
        bbox_targets = torch.cat(bbox_targets_list, dim=1)
        positives = []
        for img_anchors, img_labels, img_targets in zip(anchors, labels, bbox_targets):
            if not self.reg_decoded_bbox:
                img_targets = self.bbox_coder.decode(img_anchors, img_targets)
            positives.append(self._keep_positives(img_anchors, img_labels, img_targets))
        self._co_positives = positives
        return targets


@MODELS.register_module()
class DetrxCoFCOSHead(CoPositivesMixin, FCOSHead):
    """mmdet's :class:`~mmdet.models.dense_heads.FCOSHead` that exposes its positive points.

    A positive point of a level with stride ``s`` becomes the square box of side ``pos_box_scale * s``
    centred on it (Co-DETR's choice, matching the size of an ATSS anchor with ``octave_base_scale=8``); its
    target is the ground-truth box it regresses to.

    Args:
        pos_box_scale: Side of the positive boxes in units of the level's stride. Defaults to 8.
    """

    def __init__(self, *args, pos_box_scale: float = 8.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pos_box_scale = pos_box_scale

    def get_targets(self, points: List[Tensor], batch_gt_instances: List[InstanceData]) -> tuple:
        labels_list, bbox_targets_list = super().get_targets(points, batch_gt_instances)
        num_imgs = len(batch_gt_instances)
        per_img = [[] for _ in range(num_imgs)]
        for lvl, (lvl_points, lvl_labels, lvl_targets) in enumerate(zip(points, labels_list, bbox_targets_list)):
            stride = self.strides[lvl]
            stride = stride[0] if isinstance(stride, (tuple, list)) else stride
            lvl_labels = lvl_labels.view(num_imgs, -1)
            distances = lvl_targets.view(num_imgs, -1, 4)
            if self.norm_on_bbox:
                distances = distances * stride
            half = 0.5 * self.pos_box_scale * stride
            boxes = torch.cat([lvl_points - half, lvl_points + half], dim=-1)
            for i in range(num_imgs):
                gt = torch.cat([lvl_points - distances[i, :, :2], lvl_points + distances[i, :, 2:]], dim=-1)
                per_img[i].append(self._keep_positives(boxes, lvl_labels[i], gt))
        self._co_positives = [InstanceData.cat(levels) for levels in per_img]
        return labels_list, bbox_targets_list
