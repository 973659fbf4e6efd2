"""UP-DETR (Dai et al., CVPR 2021): random query patch detection on top of any of our DETR-family detectors."""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from mmdet.models.detectors import DABDETR, DINO, DeformableDETR
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType
from ...datasets.transforms.query_patches import QUERY_PATCHES_KEY
from ..layers.modular_detr_layers import build_with_default
from .conditional_detr import CondDETR
from .decoder_passes import dab_decoder_pass, deformable_decoder_pass
from .modular_detr import ModularDETR


def stack_query_patches(batch_data_samples: SampleList) -> Tensor:
    """The ``query_patches`` field of every data sample as one tensor.

    Args:
        batch_data_samples (list[DetDataSample]): each with ``query_patches`` (P, 3, S, S), packed by
            ``PackQueryPatchInputs`` and moved to the model's device by the data preprocessor.

    Returns:
        Tensor: (B, P, 3, S, S).

    Raises:
        ValueError: a sample has no patches, or the samples' patch tensors differ in shape.
    """
    if not batch_data_samples:
        raise ValueError('UP-DETR needs data samples carrying query patches, got none')
    missing = [i for i, s in enumerate(batch_data_samples) if QUERY_PATCHES_KEY not in s]
    if missing:
        raise ValueError(f'data samples {missing} have no `{QUERY_PATCHES_KEY}`: UP-DETR needs the query patches '
                         f'(RandomQueryPatches + PackQueryPatchInputs in the pipeline)')
    patches = [s.get(QUERY_PATCHES_KEY) for s in batch_data_samples]
    shapes = {tuple(p.shape) for p in patches}
    if len(shapes) != 1 or len(next(iter(shapes))) != 4:
        raise ValueError(f'every image needs query patches of the same shape (P, C, S, S), got {sorted(shapes)}')
    return torch.stack(patches)


class UPDETRMixin:
    """Turns a DETR-family detector into UP-DETR: object queries get query-patch features, one patch per
    query group, and the decoder self-attention is block-diagonal over the groups.

    Changes only the ``pre_decoder`` stage of the base detector (and passes the data samples to it, as mmdet's
    DINO does): the query patches of the data samples go through the detector's **own backbone**
    (frozen during pre-training by ``FreezeModulesHook``) and are average-pooled to (B, M, C);
    :class:`~mmdet_detrx.models.layers.QueryPatchEncoder` embeds them, picks the object query of every decoded
    position and builds the group mask. How the embedding enters the queries is the base's
    (:meth:`patch_queries`): added to the learnt positional queries (DETR, Conditional DETR), to the content
    queries (Deformable DETR, DINO) or as the content queries (DAB-DETR). The patch features also reach the head
    (``patch_feats``) as targets of the feature reconstruction. The base detector's state dict keys are kept,
    so ``tools/model_converters/transfer.py`` maps a pre-trained checkpoint into the base detector (or a Co-DETR
    over it) for fine-tuning, without the pretext-only ``patch_encoder.*``, ``bbox_head.feature_align.*`` and
    one-class classifiers.

    Args:
        patch_encoder (dict): config of the query-patch encoder (default type ``QueryPatchEncoder``;
            ``in_channels`` = backbone output channels, ``num_patches``, ``mask_ratio``, ``query_shuffle``);
            ``embed_dims`` defaults to the detector's.
        *args, **kwargs: as the base detector.
    """

    def __init__(self, *args, patch_encoder: ConfigType, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cfg = dict(patch_encoder)
        cfg.setdefault('embed_dims', self.embed_dims)
        self.patch_encoder = build_with_default(cfg, 'QueryPatchEncoder')
        if self.patch_encoder.embed_dims != self.embed_dims:
            raise ValueError(f'patch_encoder.embed_dims ({self.patch_encoder.embed_dims}) != the detector\'s '
                             f'embed_dims ({self.embed_dims})')
        if not 1 <= self.patch_encoder.num_patches <= self.num_queries:
            raise ValueError(f'num_patches ({self.patch_encoder.num_patches}) must be between 1 and num_queries '
                             f'({self.num_queries}): every query patch needs at least one object query')

    def extract_patch_feats(self, patches: Tensor) -> Tensor:
        """Query patches -> backbone -> global average pool.

        Args:
            patches (Tensor): (B, M, 3, S, S), normalized as the backbone expects.

        Returns:
            Tensor: (B, M, C) features of the backbone's last output level.
        """
        batch_size, num_patches = patches.shape[:2]
        feats = self.backbone(patches.flatten(0, 1))[-1]
        return feats.mean((2, 3)).view(batch_size, num_patches, -1)

    def forward_transformer(self, img_feats: Tuple[Tensor], batch_data_samples: OptSampleList = None) -> Dict:
        """mmdet's template (``pre_transformer`` -> ``forward_encoder`` -> ``pre_decoder`` ->
        ``forward_decoder``) with the data samples also given to ``pre_decoder``.

        Args:
            img_feats (tuple[Tensor]): neck outputs, each (B, C, H, W).
            batch_data_samples (list[DetDataSample]): with ``query_patches``.

        Returns:
            dict: the head inputs (``hidden_states``, base-specific ones such as ``references``, and
            ``patch_feats`` (B, M, C)).
        """
        encoder_inputs_dict, decoder_inputs_dict = self.pre_transformer(img_feats, batch_data_samples)
        encoder_outputs_dict = self.forward_encoder(**encoder_inputs_dict)
        tmp_dec_in, head_inputs_dict = self.pre_decoder(**encoder_outputs_dict,
                                                        batch_data_samples=batch_data_samples)
        decoder_inputs_dict.update(tmp_dec_in)
        decoder_outputs_dict = self.forward_decoder(**decoder_inputs_dict)
        head_inputs_dict.update(decoder_outputs_dict)
        return head_inputs_dict

    def pre_decoder(self, memory: Tensor, batch_data_samples: OptSampleList = None,
                    **kwargs) -> Tuple[Dict, Dict]:
        """The base ``pre_decoder`` with the object queries conditioned on the query patches.

        Args:
            memory (Tensor): encoder output, (B, K, D).
            batch_data_samples (list[DetDataSample]): with ``query_patches`` (P, 3, S, S).
            **kwargs: further encoder outputs for the base ``pre_decoder``.

        Returns:
            tuple[dict, dict]: decoder inputs (the base's, with the queries of :meth:`patch_queries` and the
            group self-attention mask) and head inputs (the base's, and ``patch_feats`` (B, P, C)). In training
            all ``num_queries`` queries are decoded, at inference the queries of the first P groups.
        """
        decoder_inputs_dict, head_inputs_dict = self.base_pre_decoder(memory, batch_data_samples, **kwargs)
        patches = stack_query_patches(batch_data_samples).to(memory.device)
        patch_feats = self.extract_patch_feats(patches)
        decoder_inputs_dict.update(self.patch_queries(decoder_inputs_dict, patch_feats))
        head_inputs_dict['patch_feats'] = patch_feats
        return decoder_inputs_dict, head_inputs_dict

    def base_pre_decoder(self, memory: Tensor, batch_data_samples: OptSampleList, **kwargs) -> Tuple[Dict, Dict]:
        """The base detector's ``pre_decoder`` (bases whose ``pre_decoder`` takes the data samples override)."""
        return super().pre_decoder(memory, **kwargs)

    def patch_queries(self, decoder_inputs: Dict, patch_feats: Tensor) -> Dict:
        """The decoder inputs that carry the query patches, replacing the base's.

        DETR and Conditional DETR: the patch embedding is added to the learnt (positional) object queries, the
        content queries are zeros (as the bases' own).

        Args:
            decoder_inputs (dict): the base ``pre_decoder``'s decoder inputs.
            patch_feats (Tensor): (B, P, C) pooled backbone features of the query patches.

        Returns:
            dict: ``query``, ``query_pos`` (B, Q, D) and ``self_attn_mask`` (Q, Q).
        """
        query_pos, self_attn_mask = self.patch_encoder(patch_feats, self.query_embedding.weight)
        return dict(query=torch.zeros_like(query_pos), query_pos=query_pos, self_attn_mask=self_attn_mask)


@MODELS.register_module()
class UPDETR(UPDETRMixin, ModularDETR):
    """UP-DETR pre-training on plain DETR (:class:`ModularDETR`); use with ``UPDETRHead``.

    Args:
        patch_encoder (dict): see :class:`UPDETRMixin`.
        *args, **kwargs: as :class:`ModularDETR`.
    """


@MODELS.register_module()
class UPCondDETR(UPDETRMixin, CondDETR):
    """UP-DETR pre-training on Conditional DETR (:class:`CondDETR`); use with ``UPCondDETRHead``.

    The reference points are predicted from the patch-conditioned queries.

    Args:
        patch_encoder (dict): see :class:`UPDETRMixin`.
        *args, **kwargs: as :class:`CondDETR`.
    """


@MODELS.register_module()
class UPDeformableDETR(UPDETRMixin, DeformableDETR):
    """UP-DETR pre-training on mmdet's single-stage Deformable DETR; use with ``UPDeformableDETRHead``.

    Every object query is a learnt (positional, content) pair; the patch embedding is added to the **content**
    query and the reference point is predicted from the positional query as in Deformable DETR (the learnt
    anchors), so a query group finds its patch from wherever its learnt anchors lie. The group mask goes to the
    decoder's self-attention. ``as_two_stage=True`` is refused (its queries come from encoder proposals, not
    learnt queries); the pre-trained weights still transfer into a two-stage or box-refining target.

    Args:
        patch_encoder (dict): see :class:`UPDETRMixin`.
        *args, **kwargs: as mmdet's ``DeformableDETR``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.as_two_stage:
            raise ValueError(f'{type(self).__name__} pre-trains learnt object queries: set as_two_stage=False (the '
                             f'weights transfer into a two-stage Deformable DETR or DINO for fine-tuning)')

    def base_pre_decoder(self, memory: Tensor, batch_data_samples: OptSampleList, **kwargs) -> Tuple[Dict, Dict]:
        """Deformable DETR's ``pre_decoder`` without its (single-stage: None) encoder outputs."""
        decoder_inputs_dict, head_inputs_dict = super().base_pre_decoder(memory, batch_data_samples, **kwargs)
        head_inputs_dict.pop('enc_outputs_class', None)
        head_inputs_dict.pop('enc_outputs_coord', None)
        return decoder_inputs_dict, head_inputs_dict

    def patch_queries(self, decoder_inputs: Dict, patch_feats: Tensor) -> Dict:
        """Content queries + patch embedding; positional queries and reference points of the learnt queries."""
        patch_embed, query_index, self_attn_mask = self.patch_encoder.encode(patch_feats, self.num_queries)
        query_pos, query = self.query_embedding.weight[query_index].split(self.embed_dims, dim=-1)
        query_pos = query_pos[None].expand(patch_embed.size(0), -1, -1)
        return dict(query=query[None] + patch_embed, query_pos=query_pos,
                    reference_points=self.reference_points_fc(query_pos).sigmoid(), self_attn_mask=self_attn_mask)

    def forward_decoder(self, query: Tensor, query_pos: Tensor, memory: Tensor, memory_mask: Tensor,
                        reference_points: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                        valid_ratios: Tensor, self_attn_mask: Optional[Tensor] = None) -> Dict:
        """``DeformableDETR.forward_decoder`` with the group self-attention mask."""
        return deformable_decoder_pass(self, query, query_pos, reference_points, memory, memory_mask, spatial_shapes,
                                       level_start_index, valid_ratios, self_attn_mask=self_attn_mask)


@MODELS.register_module()
class UPDABDETR(UPDETRMixin, DABDETR):
    """UP-DETR pre-training on mmdet's DAB-DETR; use with ``UPDABDETRHead``.

    DAB-DETR's object queries are learnt anchor boxes with zero content queries; the patch embedding becomes the
    content query of every query of its group, the anchors stay the learnt ones (the patch is found from them).
    The group mask goes to the decoder's self-attention. ``num_patterns`` must be 0.

    Args:
        patch_encoder (dict): see :class:`UPDETRMixin`.
        *args, **kwargs: as mmdet's ``DABDETR``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.num_patterns:
            raise ValueError(f'{type(self).__name__} supports num_patterns=0 only (got {self.num_patterns})')

    def patch_queries(self, decoder_inputs: Dict, patch_feats: Tensor) -> Dict:
        """Patch embedding as the content queries; the learnt anchors of the decoded queries."""
        patch_embed, query_index, self_attn_mask = self.patch_encoder.encode(patch_feats, self.num_queries)
        anchors = self.query_embedding.weight[query_index][None].expand(patch_embed.size(0), -1, -1)
        return dict(query=patch_embed, query_pos=anchors, self_attn_mask=self_attn_mask)

    def forward_decoder(self, query: Tensor, query_pos: Tensor, memory: Tensor, memory_mask: Tensor,
                        memory_pos: Tensor, self_attn_mask: Optional[Tensor] = None) -> Dict:
        """``DABDETR.forward_decoder`` with the group self-attention mask."""
        return dab_decoder_pass(self, query, query_pos, memory, memory_mask, memory_pos, self_attn_mask)


@MODELS.register_module()
class UPDINO(UPDETRMixin, DINO):
    """UP-DETR pre-training on mmdet's DINO; use with ``UPDINOHead``.

    DINO keeps its query selection: the reference boxes are the top-k encoder proposals (the encoder learns to
    propose query patches through DINO's encoder loss) and its contrastive denoising groups are built from the
    patch boxes. The patch embedding is added to DINO's learnt content queries; the group mask is merged into
    the matching part of DINO's denoising mask (matching queries already cannot see the denoising ones). At
    inference with P patches the first P groups take the P * N / M best-scored proposals.

    Args:
        patch_encoder (dict): see :class:`UPDETRMixin`.
        *args, **kwargs: as mmdet's ``DINO``.
    """

    def base_pre_decoder(self, memory: Tensor, batch_data_samples: OptSampleList, **kwargs) -> Tuple[Dict, Dict]:
        """DINO's ``pre_decoder`` (it takes the data samples for the denoising queries)."""
        return super(UPDETRMixin, self).pre_decoder(memory, batch_data_samples=batch_data_samples, **kwargs)

    def patch_queries(self, decoder_inputs: Dict, patch_feats: Tensor) -> Dict:
        """Content queries + patch embedding after the denoising queries; the group mask in DINO's mask."""
        patch_embed, query_index, group_mask = self.patch_encoder.encode(patch_feats, self.num_queries)
        query, dn_mask = decoder_inputs['query'], decoder_inputs['dn_mask']
        num_dn = query.size(1) - self.num_queries
        content = self.query_embedding.weight[query_index][None] + patch_embed
        num_used = content.size(1)
        if dn_mask is None:
            dn_mask = group_mask
        else:
            dn_mask = dn_mask.clone()
            dn_mask[num_dn:, num_dn:] |= group_mask
        return dict(query=torch.cat([query[:, :num_dn], content], dim=1),
                    reference_points=decoder_inputs['reference_points'][:, :num_dn + num_used], dn_mask=dn_mask)


__all__ = ['UPDETRMixin', 'UPDETR', 'UPCondDETR', 'UPDeformableDETR', 'UPDABDETR', 'UPDINO', 'stack_query_patches']
