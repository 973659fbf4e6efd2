"""Head of Conditional DETR with layer-batched matching and losses."""
from typing import Dict, Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from mmdet.models.dense_heads import ConditionalDETRHead
from mmdet.models.layers.transformer import inverse_sigmoid
from mmdet.models.losses import QualityFocalLoss
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import InstanceList
from .layer_batched_loss import LayerBatchedLossMixin, LayerTargets


@MODELS.register_module()
class CondDETRHead(LayerBatchedLossMixin, ConditionalDETRHead):
    """Conditional DETR head: sigmoid classification and boxes relative to the reference points.

    Box centres are predicted as offsets to the reference point in inverse-sigmoid space:
    ``box = sigmoid(FFN(h) + [inverse_sigmoid(ref), 0, 0])``. Parameters (``fc_cls``, ``reg_ffn``,
    ``fc_reg``) and outputs equal mmdet's ``ConditionalDETRHead``.

    Differences from mmdet's ``ConditionalDETRHead`` (for the same weights, outputs and losses are equal):

    * Matching and losses of all decoder layers at once (:class:`LayerBatchedLossMixin`: one assigner call,
      regression only on positive queries, mmdet's loss keys, optionally prefixed with ``loss_prefix``).
    * ``zero_init_reg=True`` zero-initializes ``fc_reg`` as the official implementation does (initial
      boxes are centred on their reference points); mmdet keeps the default init.
    * The forward runs all layers at once and checks its inputs; ``references`` may also be per layer
      (L, B, Q, 2) (``predict`` then uses the last).

    Args:
        zero_init_reg (bool): zero-init the last regression layer in ``init_weights``. Defaults to True.
        *args, **kwargs: as mmdet's :class:`~mmdet.models.dense_heads.DETRHead` (``num_classes``,
            ``embed_dims``, ``loss_cls``, ``loss_bbox``, ``loss_iou``, ``train_cfg``, ``test_cfg``, ...).
    """

    #: mmdet ConditionalDETRHead's top-k post-processing, reproduced by the ONNX export
    detr_topk_postprocess = True


    def __init__(self, *args, zero_init_reg: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.loss_cls, QualityFocalLoss):
            raise NotImplementedError(f'{type(self).__name__} does not support QualityFocalLoss')
        self.zero_init_reg = zero_init_reg

    def init_weights(self) -> None:
        """Prior-probability bias for the sigmoid classifier (mmdet) and zero-init of ``fc_reg`` (official)."""
        super().init_weights()
        if self.zero_init_reg:
            nn.init.zeros_(self.fc_reg.weight)
            nn.init.zeros_(self.fc_reg.bias)

    def forward(self, hidden_states: Tensor, references: Tensor) -> Tuple[Tensor, Tensor]:
        """Classifies and regresses every query of every given decoder layer.

        Args:
            hidden_states (Tensor): decoder outputs, (L, B, Q, D).
            references (Tensor): reference points in [0, 1], (B, Q, 2) shared by all layers, or (L, B, Q, 2).

        Returns:
            tuple[Tensor, Tensor]:

            - layers_cls_scores: logits, (L, B, Q, cls_out_channels).
            - layers_bbox_preds: normalized (cx, cy, w, h) in [0, 1], (L, B, Q, 4).
        """
        if hidden_states.dim() != 4 or hidden_states.size(-1) != self.embed_dims:
            raise ValueError(f'hidden_states must have shape (L, B, Q, {self.embed_dims}), '
                             f'got {tuple(hidden_states.shape)}')
        lead = tuple(hidden_states.shape[1:3])
        if references.size(-1) != 2 or tuple(references.shape[-3:-1]) != lead or references.dim() not in (3, 4) \
                or (references.dim() == 4 and references.size(0) != hidden_states.size(0)):
            raise ValueError(f'references must have shape (B, Q, 2)={(*lead, 2)} or (L, B, Q, 2), '
                             f'got {tuple(references.shape)}')
        reg = self.fc_reg(self.activate(self.reg_ffn(hidden_states)))
        offset = F.pad(inverse_sigmoid(references), (0, 2))
        layers_bbox_preds = (reg + offset).sigmoid()
        layers_cls_scores = self.fc_cls(hidden_states)
        return layers_cls_scores, layers_bbox_preds

    def predict(self,
                hidden_states: Tensor,
                references: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> InstanceList:
        """Detections from the last decoder layer (top ``test_cfg.max_per_img`` query-class pairs).

        Args:
            hidden_states (Tensor): (L, B, Q, D); only the last layer is used.
            references (Tensor): (B, Q, 2), or (L, B, Q, 2) of which the last layer is used.
            batch_data_samples (list[DetDataSample]): with metainfo (``img_shape``, ``scale_factor``).
            rescale (bool): boxes in the original image scale. Defaults to True.

        Returns:
            list[InstanceData]: per image ``scores``, ``labels``, ``bboxes`` (xyxy).
        """
        if references.dim() == 4:
            references = references[-1]
        return super().predict(hidden_states, references, batch_data_samples, rescale=rescale)

    def loss(self,
             hidden_states: Tensor,
             references: Tensor,
             batch_data_samples: SampleList,
             loss_prefix: str = '') -> Dict[str, Tensor]:
        """Forward + losses for one query group.

        Args:
            hidden_states (Tensor): (L, B, Q, D).
            references (Tensor): (B, Q, 2) or (L, B, Q, 2).
            batch_data_samples (list[DetDataSample]): with ``gt_instances`` and metainfo.
            loss_prefix (str): prepended to every loss key (for extra query groups). Defaults to ''.

        Returns:
            dict[str, Tensor]: see :meth:`loss_by_feat`.
        """
        batch_gt_instances = [s.gt_instances for s in batch_data_samples]
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        outs = self(hidden_states, references)
        return self.loss_by_feat(*outs, batch_gt_instances, batch_img_metas, loss_prefix=loss_prefix)


__all__ = ['CondDETRHead', 'LayerTargets']
