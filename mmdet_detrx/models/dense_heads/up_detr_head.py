"""UP-DETR heads: match / no-match classification and boxes of the query patches, plus feature reconstruction.

The pre-training targets are the boxes of the random query patches (one class, label 0 "object"); gt box ``j``
of an image is the box of its query patch ``j``. Besides the classification, L1 and GIoU losses of the base
head, the decoder output of every query matched to gt ``j`` is projected back to the backbone width
(``feature_align``) and pulled towards the pooled backbone feature of patch ``j``
(:class:`~mmdet_detrx.models.losses.FeatureReconstructionLoss`).
"""
from typing import Dict, List, Optional, Tuple

from torch import Tensor

from mmdet.models.dense_heads import DABDETRHead, DeformableDETRHead, DETRHead, DINOHead
from mmdet.models.layers.transformer.utils import MLP
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import InstanceList, OptConfigType, reduce_mean
from .conditional_detr_head import CondDETRHead
from .layer_batched_loss import LayerBatchedLossMixin, LayerTargets
from .softmax_weights import SoftmaxNoObjectMixin


class UPDETRHeadMixin:
    """Adds UP-DETR's feature reconstruction branch to a DETR-family head with layer-batched losses
    (:class:`LayerBatchedLossMixin`; mix in before it).

    Uses the layer-batched stages (``match_layers``, ``targets_from_assignment``,
    ``loss_by_targets``, ``layer_losses_to_dict``), so every decoder layer is matched once and the same
    assignment drives the box and the feature losses. Loss keys: the base head's plus ``loss_feature`` and
    ``d{i}.loss_feature``.

    The detector passes ``patch_feats`` (B, M, C) to ``loss``; ``forward`` and ``predict`` accept and ignore
    it, so the detector's ``head_inputs_dict`` works for every mode.

    Args:
        patch_channels (int, optional): channels of the patch features (the backbone's last output); the
            reconstruction projects the decoder output to this width. Required when ``loss_feature`` is set.
        loss_feature (dict, optional): the feature reconstruction loss; ``None`` disables the branch.
            Defaults to ``FeatureReconstructionLoss`` with weight 1 (reference).
        *args, **kwargs: passed to the base head.
    """

    def __init__(self,
                 *args,
                 patch_channels: Optional[int] = None,
                 loss_feature: OptConfigType = dict(type='FeatureReconstructionLoss', loss_weight=1.0),
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.loss_feature = MODELS.build(loss_feature) if loss_feature else None
        if self.loss_feature is not None:
            if not patch_channels:
                raise ValueError(f'{type(self).__name__}: loss_feature needs patch_channels (the backbone output '
                                 f'channels, e.g. 2048 for ResNet-50, 512 for ResNet-18)')
            # maps the decoder output back to the backbone width for the reconstruction
            self.feature_align = MLP(self.embed_dims, self.embed_dims, patch_channels, 2)
        self.patch_channels = patch_channels

    def forward(self, hidden_states: Tensor, *args, patch_feats: Optional[Tensor] = None,
                **kwargs) -> Tuple[Tensor, Tensor]:
        """The base head's forward; ``patch_feats`` is ignored (see the class docstring)."""
        return super().forward(hidden_states, *args, **kwargs)

    def predict(self, hidden_states: Tensor, *args, patch_feats: Optional[Tensor] = None,
                **kwargs) -> InstanceList:
        """The base head's predict; ``patch_feats`` is ignored.

        Raises:
            ValueError: ``test_cfg.max_per_img`` asks for more detections than the queries in use give (with
                fewer query patches than ``num_patches`` only the queries of their groups are decoded).
        """
        self.check_max_per_img(hidden_states.size(2))
        return super().predict(hidden_states, *args, **kwargs)

    def check_max_per_img(self, num_queries: int) -> None:
        """Raises ``ValueError`` if ``test_cfg.max_per_img`` exceeds what ``num_queries`` queries can give."""
        max_per_img = (self.test_cfg or {}).get('max_per_img', num_queries)
        available = num_queries * (self.cls_out_channels if self.loss_cls.use_sigmoid else 1)
        if max_per_img > available:
            raise ValueError(f'test_cfg.max_per_img={max_per_img} but the {num_queries} decoded queries give at most '
                             f'{available} detections (fewer query patches use fewer query groups): lower '
                             f'model.test_cfg.max_per_img')

    def loss(self,
             hidden_states: Tensor,
             batch_data_samples: SampleList,
             patch_feats: Optional[Tensor] = None,
             loss_prefix: str = '',
             **head_inputs) -> Dict[str, Tensor]:
        """Forward + losses.

        Args:
            hidden_states (Tensor): decoder outputs, (L, B, Q, D).
            batch_data_samples (list[DetDataSample]): ``gt_instances`` hold the patch boxes (G = M per image).
            patch_feats (Tensor, optional): pooled backbone features of the query patches, (B, M, C); needed
                when ``loss_feature`` is set.
            loss_prefix (str): prepended to every loss key. Defaults to ''.
            **head_inputs: further inputs of the base head's forward (e.g. ``references`` (B, Q, 2)).

        Returns:
            dict[str, Tensor]: see :meth:`loss_by_feat`.
        """
        batch_gt_instances = [s.gt_instances for s in batch_data_samples]
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        outs = self(hidden_states, **head_inputs)
        return self.loss_by_feat(*outs, batch_gt_instances, batch_img_metas,
                                 all_layers_pred_feats=self.reconstruct_patch_feats(hidden_states, patch_feats),
                                 patch_feats=patch_feats, loss_prefix=loss_prefix)

    def reconstruct_patch_feats(self, hidden_states: Tensor, patch_feats: Optional[Tensor]) -> Optional[Tensor]:
        """``feature_align`` of the decoder outputs (None without the feature loss).

        Args:
            hidden_states (Tensor): (L, B, Q, D) outputs of the queries matched to the patches.
            patch_feats (Tensor, optional): (B, M, C_patch); must be given when ``loss_feature`` is set.

        Returns:
            Tensor, optional: (L, B, Q, C_patch).
        """
        if self.loss_feature is None:
            return None
        if patch_feats is None:
            raise ValueError(f'{type(self).__name__}.loss needs patch_feats for the feature reconstruction '
                             f'(or set loss_feature=None)')
        return self.feature_align(hidden_states)

    def more_layer_losses(self,
                          gt_inds: Tensor,
                          targets: LayerTargets,
                          batch_gt_instances: InstanceList,
                          all_layers_pred_feats: Optional[Tensor] = None,
                          patch_feats: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """The feature reconstruction loss of every layer, from the box matching's assignment.

        Args:
            gt_inds (Tensor): (L, B, Q) long, 1-based matched gt index, 0 background.
            targets (LayerTargets): the box targets (their ``num_pos`` normalises the loss).
            batch_gt_instances (list[InstanceData]): per image the M patch boxes; box j belongs to patch j.
            all_layers_pred_feats (Tensor, optional): ``feature_align`` outputs, (L, B, Q, C_patch).
            patch_feats (Tensor, optional): (B, M, C_patch), the reconstruction targets (detached here).

        Returns:
            dict[str, Tensor]: ``loss_feature`` (L,), or nothing without ``loss_feature``.
        """
        if self.loss_feature is None:
            return {}
        if all_layers_pred_feats is None or patch_feats is None:
            raise ValueError(f'{type(self).__name__}: the feature loss needs all_layers_pred_feats and patch_feats')
        num_boxes = [len(gt) for gt in batch_gt_instances]
        if patch_feats.dim() != 3 or any(n != patch_feats.size(1) for n in num_boxes):
            raise ValueError(f'gt box j of an image must be the box of its query patch j: the images have '
                             f'{num_boxes} gt boxes but patch_feats has shape {tuple(patch_feats.shape)} (B, M, C)')
        return dict(loss_feature=self.feature_losses(all_layers_pred_feats, patch_feats, gt_inds, targets.num_pos))

    def feature_losses(self, all_layers_pred_feats: Tensor, patch_feats: Tensor, gt_inds: Tensor,
                       num_pos: Tensor) -> Tensor:
        """Feature reconstruction loss of every layer: matched query -> the feature of its gt's patch.

        Args:
            all_layers_pred_feats (Tensor): (L, B, Q, C).
            patch_feats (Tensor): (B, M, C); gt j of image b is patch ``patch_feats[b, j]``.
            gt_inds (Tensor): (L, B, Q) long, 1-based matched gt index, 0 background.
            num_pos (Tensor): (L,) matched queries per layer (all images).

        Returns:
            Tensor: (L,), each the sum over the layer's matched queries divided by its (rank-averaged, >= 1)
            number of matched queries, as the box losses.
        """
        num_layers = all_layers_pred_feats.size(0)
        if all_layers_pred_feats.size(-1) != patch_feats.size(-1):
            raise ValueError(f'predicted features have {all_layers_pred_feats.size(-1)} channels but the patch '
                             f'features {patch_feats.size(-1)}: set patch_channels to the backbone output channels')
        pos = gt_inds > 0
        avg_factor = reduce_mean(num_pos.float()).clamp(min=1)
        if not bool(pos.any()):
            return all_layers_pred_feats.sum((1, 2, 3)) * 0
        layer_ids, img_ids, _ = pos.nonzero(as_tuple=True)
        targets = patch_feats.detach()[img_ids, gt_inds[pos] - 1]
        loss = self.loss_feature(all_layers_pred_feats[pos], targets.to(all_layers_pred_feats.dtype),
                                 reduction_override='none')
        return loss.new_zeros(num_layers).index_add(0, layer_ids, loss) / avg_factor


@MODELS.register_module()
class UPCondDETRHead(UPDETRHeadMixin, CondDETRHead):
    """UP-DETR pre-training head for Conditional DETR: :class:`CondDETRHead` (sigmoid focal classification,
    boxes relative to the reference points) + feature reconstruction.

    Use ``num_classes=1`` (the patches are one class, "object"); the sigmoid score is the match score.

    Args:
        patch_channels (int): backbone output channels (feature reconstruction width).
        loss_feature (dict, optional): see :class:`UPDETRHeadMixin`.
        *args, **kwargs: as :class:`CondDETRHead`.
    """


@MODELS.register_module()
class UPDETRHead(UPDETRHeadMixin, LayerBatchedLossMixin, SoftmaxNoObjectMixin, DETRHead):
    """UP-DETR pre-training head for plain DETR: mmdet's ``DETRHead`` (softmax classification with a no-object
    class, absolute boxes) + feature reconstruction, with layer-batched matching and losses (equal to
    ``DETRHead``'s for the same predictions and assignment; the classification loss normalized by
    ``num_pos + bg_cls_weight * num_neg``). As in ``DETRHead``, ``loss_cls.bg_cls_weight`` is the weight of the
    no-object class (reference: ``eos_coef=0.1``).

    Use ``num_classes=1``: the softmax over (object, no-object) is the reference's match / no-match.

    Args:
        num_classes (int): number of classes (1 for pre-training).
        loss_cls (dict): classification loss; ``CrossEntropyLoss`` with ``class_weight`` (float, weight of the
            classes) and ``bg_cls_weight`` (weight of no-object). Defaults to the reference's.
        patch_channels (int): backbone output channels (feature reconstruction width).
        loss_feature (dict, optional): see :class:`UPDETRHeadMixin`.
        *args, **kwargs: as mmdet's ``DETRHead``.
    """


@MODELS.register_module()
class UPDeformableDETRHead(UPDETRHeadMixin, LayerBatchedLossMixin, DeformableDETRHead):
    """UP-DETR pre-training head for Deformable DETR (:class:`~mmdet_detrx.models.detectors.UPDeformableDETR`):
    mmdet's ``DeformableDETRHead`` outputs (per-layer branches, boxes relative to the references) + feature
    reconstruction, layer-batched matching and losses. Use ``num_classes=1``.

    Args:
        patch_channels (int): backbone output channels (feature reconstruction width).
        loss_feature (dict, optional): see :class:`UPDETRHeadMixin`.
        *args, **kwargs: as mmdet's ``DeformableDETRHead``.
    """


@MODELS.register_module()
class UPDABDETRHead(UPDETRHeadMixin, LayerBatchedLossMixin, DABDETRHead):
    """UP-DETR pre-training head for DAB-DETR (:class:`~mmdet_detrx.models.detectors.UPDABDETR`): mmdet's
    ``DABDETRHead`` outputs (boxes relative to the refined anchors) + feature reconstruction, layer-batched
    matching and losses. Use ``num_classes=1``.

    Args:
        patch_channels (int): backbone output channels (feature reconstruction width).
        loss_feature (dict, optional): see :class:`UPDETRHeadMixin`.
        *args, **kwargs: as mmdet's ``DABDETRHead``.
    """


@MODELS.register_module()
class UPDINOHead(UPDETRHeadMixin, LayerBatchedLossMixin, DINOHead):
    """UP-DETR pre-training head for DINO (:class:`~mmdet_detrx.models.detectors.UPDINO`): mmdet's ``DINOHead``
    (encoder proposal loss, contrastive denoising loss) with the matching queries' losses layer-batched and the
    feature reconstruction on the matching queries. Use ``num_classes=1``.

    Loss keys: the matching part as :class:`UPDETRHeadMixin` (``loss_cls`` ... ``loss_feature``, ``d{i}.*``), and
    DINO's ``enc_loss_*``, ``dn_loss_*`` and ``d{i}.dn_loss_*``.

    Args:
        patch_channels (int): backbone output channels (feature reconstruction width).
        loss_feature (dict, optional): see :class:`UPDETRHeadMixin`.
        *args, **kwargs: as mmdet's ``DINOHead``.
    """

    def loss(self,
             hidden_states: Tensor,
             references: List[Tensor],
             enc_outputs_class: Tensor,
             enc_outputs_coord: Tensor,
             batch_data_samples: SampleList,
             dn_meta: Dict[str, int],
             patch_feats: Optional[Tensor] = None,
             loss_prefix: str = '') -> Dict[str, Tensor]:
        """Forward + losses.

        Args:
            hidden_states (Tensor): (L, B, num_dn + Q, D), the denoising queries first.
            references (list[Tensor]): the initial and every layer's reference boxes, as ``DINOHead.loss``.
            enc_outputs_class (Tensor): (B, Q, C) scores of the selected encoder proposals.
            enc_outputs_coord (Tensor): (B, Q, 4) their normalized boxes.
            batch_data_samples (list[DetDataSample]): ``gt_instances`` hold the patch boxes.
            dn_meta (dict): DINO's denoising layout (``num_denoising_queries``, ``num_denoising_groups``).
            patch_feats (Tensor, optional): (B, M, C_patch) pooled backbone features of the query patches.
            loss_prefix (str): prepended to the matching queries' loss keys. Defaults to ''.

        Returns:
            dict[str, Tensor]: see the class docstring.
        """
        batch_gt_instances = [s.gt_instances for s in batch_data_samples]
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        cls_scores, bbox_preds, dn_cls_scores, dn_bbox_preds = self.split_outputs(
            *self(hidden_states, references), dn_meta)
        num_dn = hidden_states.size(2) - cls_scores.size(2)
        losses = self.loss_by_feat(
            cls_scores, bbox_preds, batch_gt_instances, batch_img_metas,
            all_layers_pred_feats=self.reconstruct_patch_feats(hidden_states[:, :, num_dn:], patch_feats),
            patch_feats=patch_feats, loss_prefix=loss_prefix)
        enc_losses = self.loss_by_feat_single(enc_outputs_class, enc_outputs_coord, batch_gt_instances,
                                              batch_img_metas)
        losses.update(zip(('enc_loss_cls', 'enc_loss_bbox', 'enc_loss_iou'), enc_losses))
        dn_losses = self.loss_dn(dn_cls_scores, dn_bbox_preds, batch_gt_instances, batch_img_metas, dn_meta)
        losses.update(self.layer_losses_to_dict(*dn_losses, name_prefix='dn_'))
        return losses


__all__ = ['UPDETRHeadMixin', 'UPCondDETRHead', 'UPDETRHead', 'UPDeformableDETRHead', 'UPDABDETRHead', 'UPDINOHead']
