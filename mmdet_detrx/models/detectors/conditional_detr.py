"""Conditional DETR (Meng et al., ICCV 2021) as a composable detector."""
from typing import Dict, Optional

from torch import Tensor

from mmdet.registry import MODELS
from .modular_detr import ModularDETR


@MODELS.register_module()
class CondDETR(ModularDETR):
    """Conditional DETR: DETR whose decoder cross-attention uses a conditional spatial query.

    A registry-built counterpart of mmdet's ``ConditionalDETR``: the decoder (default
    ``CondDETRDecoder``), its layers, attentions and FFNs, the encoder and the positional encoding are all
    built from config, and the state dict is key- and shape-identical to mmdet's, so its model-zoo
    checkpoints load unchanged.

    Template stages (mmdet's ``DetectionTransformer``):

    * ``pre_decoder`` (inherited from DETR): ``query = 0``, ``query_pos = query_embedding`` (B, Q, D).
    * ``forward_decoder``: returns ``hidden_states`` (L, B, Q, D) and ``references`` (B, Q, 2), the
      reference points the head adds (in inverse-sigmoid space) to its box centres.

    Methods built on this one (UP-DETR, METR, Co-DETR) override ``pre_decoder`` to append query groups and
    pass a ``self_attn_mask`` (and, for queries with known positions, ``reference_points``) on to
    ``forward_decoder``; the decoder accepts queries of any length.

    Args: as mmdet's :class:`~mmdet.models.detectors.DetectionTransformer`; the paper uses
        ``num_queries=300``.
    """

    default_decoder_type = 'CondDETRDecoder'

    def forward_decoder(self,
                        query: Tensor,
                        query_pos: Tensor,
                        memory: Tensor,
                        memory_mask: Optional[Tensor],
                        memory_pos: Tensor,
                        self_attn_mask: Optional[Tensor] = None,
                        reference_points: Optional[Tensor] = None) -> Dict:
        """Runs the conditional decoder.

        Args:
            query (Tensor): decoder input embeddings, (B, Q, D); Q may differ from ``num_queries``.
            query_pos (Tensor): object queries, (B, Q, D).
            memory (Tensor): encoder output, (B, K, D).
            memory_mask (Tensor, optional): (B, K), ``True`` at padding.
            memory_pos (Tensor): (B, K, D).
            self_attn_mask (Tensor, optional): (Q, Q) or (B * H, Q, Q), bool ``True`` = may not attend.
            reference_points (Tensor, optional): (B, Q, 2) in [0, 1]; predicted from ``query_pos`` if None.

        Returns:
            dict: ``hidden_states`` (L, B, Q, D) and ``references`` (B, Q, 2).
        """
        hidden_states, references = self.decoder(
            query=query,
            key=memory,
            query_pos=query_pos,
            key_pos=memory_pos,
            key_padding_mask=memory_mask,
            self_attn_mask=self_attn_mask,
            reference_points=reference_points)
        return dict(hidden_states=hidden_states, references=references)
