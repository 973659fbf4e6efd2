"""UP-DETR (Dai et al., CVPR 2021): random query patch detection on top of any of our DETR-family detectors."""
from typing import Dict, Tuple

import torch
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType
from ...datasets.transforms.query_patches import QUERY_PATCHES_KEY
from ..layers.modular_detr_layers import build_with_default
from .conditional_detr import CondDETR
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
    (frozen during pre-training by ``FreezeModulesHook``), are average-pooled to (B, M, C), and
    :class:`~mmdet_detrx.models.layers.QueryPatchEncoder` adds them to the object queries and builds the group
    mask, which reaches the decoder as ``self_attn_mask``. The patch features also reach the head
    (``patch_feats``) as targets of the feature reconstruction. The base detector's state dict keys are kept,
    so a pre-trained checkpoint loads into the base detector for fine-tuning (the extra ``patch_encoder.*``
    and ``bbox_head.feature_align.*`` keys are unused there; ``tools/model_converters/up_detr_to_finetune.py``
    writes a checkpoint with only the transferable weights).

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
        """The base ``pre_decoder`` with the object queries replaced by patch-conditioned queries.

        Args:
            memory (Tensor): encoder output, (B, K, D).
            batch_data_samples (list[DetDataSample]): with ``query_patches`` (P, 3, S, S).
            **kwargs: further encoder outputs for the base ``pre_decoder``.

        Returns:
            tuple[dict, dict]: decoder inputs (``query`` zeros and ``query_pos`` (B, Q, D), ``memory``,
            ``self_attn_mask`` (Q, Q)) and head inputs (``patch_feats`` (B, P, C)); Q = ``num_queries`` in
            training, the queries of the first P groups at inference.
        """
        decoder_inputs_dict, head_inputs_dict = super().pre_decoder(memory, **kwargs)
        patches = stack_query_patches(batch_data_samples).to(memory.device)
        patch_feats = self.extract_patch_feats(patches)
        query_pos, self_attn_mask = self.patch_encoder(patch_feats, self.query_embedding.weight)
        decoder_inputs_dict.update(query=torch.zeros_like(query_pos), query_pos=query_pos,
                                   self_attn_mask=self_attn_mask)
        head_inputs_dict['patch_feats'] = patch_feats
        return decoder_inputs_dict, head_inputs_dict


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


__all__ = ['UPDETRMixin', 'UPDETR', 'UPCondDETR', 'stack_query_patches']
