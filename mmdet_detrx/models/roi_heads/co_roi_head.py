"""Auxiliary two-stage RoI head for Co-DETR that exposes the positives of its proposal assignment."""
from typing import List, Optional, Tuple

from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2roi

from ..autocast import float32_scope, to_float32
from ..layers.gather_roi_align import use_gather_roi_align


@MODELS.register_module()
class DetrxCoStandardRoIHead(StandardRoIHead):
    """mmdet's :class:`~mmdet.models.roi_heads.StandardRoIHead` that exposes its positive proposals.

    The positives are the sampled proposals assigned to a ground truth (with ``add_gt_as_proposals`` the
    ground-truth boxes themselves are among them); their targets the matched ground truth. The RoI branch
    (RoIAlign has no bf16 CPU kernel) and its loss run in float32 under autocast.

    Args:
        cpu_gather_roi_align: Replace mmcv's ``RoIAlign`` layers by
            :class:`~mmdet_detrx.models.layers.gather_roi_align.DetrxGatherRoIAlign` (same results; on CPU a
            weighted gather several times faster than mmcv's CPU kernel, elsewhere mmcv's kernel). No
            parameters change. Defaults to True.
        *args, **kwargs: As :class:`~mmdet.models.roi_heads.StandardRoIHead`.
    """

    def __init__(self, *args, cpu_gather_roi_align: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if cpu_gather_roi_align:
            use_gather_roi_align(self)

    def _bbox_forward(self, x: Tuple[Tensor], rois: Tensor) -> dict:
        """:meth:`StandardRoIHead._bbox_forward` in float32 (also under autocast)."""
        x, rois = to_float32((tuple(x), rois))
        with float32_scope(rois):
            return super()._bbox_forward(x, rois)

    _co_positives: Optional[List[InstanceData]] = None

    def bbox_loss(self, x: Tuple[Tensor], sampling_results: List[SamplingResult]) -> dict:
        """RoI forward (under autocast if enabled) and bbox loss in float32; keeps the positives.

        Args:
            x: Multi-level features, each (bs, C, h, w).
            sampling_results: Per image sampled proposals.

        Returns:
            As :meth:`StandardRoIHead.bbox_loss`: ``cls_score``, ``bbox_pred``, ``bbox_feats``, ``loss_bbox``.
        """
        self._co_positives = [
            InstanceData(priors=res.pos_priors, labels=res.pos_gt_labels, gt_bboxes=res.pos_gt_bboxes)
            for res in sampling_results
        ]
        rois = bbox2roi([res.priors for res in sampling_results])
        bbox_results = self._bbox_forward(x, rois)
        cls_score, bbox_pred = to_float32((bbox_results['cls_score'], bbox_results['bbox_pred']))
        with float32_scope(cls_score):
            loss_and_target = self.bbox_head.loss_and_target(
                cls_score=cls_score, bbox_pred=bbox_pred, rois=rois.float(),
                sampling_results=sampling_results, rcnn_train_cfg=self.train_cfg)
        bbox_results.update(loss_bbox=loss_and_target['loss_bbox'])
        return bbox_results

    def pop_positives(self) -> List[InstanceData]:
        """Positives of the last loss: per image ``priors`` (n, 4) positive proposals, ``labels`` (n, ) and
        ``gt_bboxes`` (n, 4) the matched ground truth, boxes as pixel (x1, y1, x2, y2)."""
        positives, self._co_positives = self._co_positives, None
        assert positives is not None, 'DetrxCoStandardRoIHead computed no loss since the last pop'
        return positives
