"""Conditional DETR (Meng et al., ICCV 2021) as a composable detector."""
from typing import Dict, Tuple

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

    * ``pre_decoder``: ``query = 0``, ``query_pos = query_embedding`` (B, Q, D), the embedding *expanded* over
      the batch (not copied as in mmdet's DETR): the decoder then projects the object queries, predicts their
      reference points and embeds those once for the whole batch (same values; see
      :func:`~mmdet_detrx.models.layers.conditional_attention.project`).
    * ``forward_decoder``: returns ``hidden_states`` (L, B, Q, D) and ``references`` (B, Q, 2), the
      reference points the head adds (in inverse-sigmoid space) to its box centres.

    Methods built on this one (UP-DETR, METR, Co-DETR) override ``pre_decoder`` to append query groups and
    pass a ``self_attn_mask`` (and, for queries with known positions, ``reference_points``) on to
    ``forward_decoder``; the decoder accepts queries of any length.

    Args: as mmdet's :class:`~mmdet.models.detectors.DetectionTransformer`; the paper uses
        ``num_queries=300``.
    """

    default_decoder_type = 'CondDETRDecoder'

    def pre_decoder(self, memory: Tensor, **kwargs) -> Tuple[Dict, Dict]:
        """Zero content queries and the learned object queries, shared by the batch.

        Args:
            memory (Tensor): encoder output, (B, K, D).
            **kwargs: other encoder outputs (unused).

        Returns:
            tuple[dict, dict]: decoder inputs ``query`` (B, Q, D) zeros, ``query_pos`` (B, Q, D) the embedding
            expanded over the batch (stride 0), ``memory``; empty head inputs.
        """
        batch_size = memory.size(0)
        weight = self.query_embedding.weight
        query_pos = weight[None].expand(batch_size, -1, -1)
        query = weight.new_zeros((batch_size, *weight.shape))
        return dict(query=query, query_pos=query_pos, memory=memory), dict()

    def decoder_outputs_to_dict(self, outputs: Tuple[Tensor, Tensor]) -> Dict:
        """The conditional decoder's ``(hidden_states (L, B, Q, D), references (B, Q, 2))`` as the head's inputs.

        ``forward_decoder`` (inherited) passes ``reference_points`` (B, Q, 2) in [0, 1] on to the decoder when
        given (extra query groups); without it the decoder predicts them from ``query_pos``.
        """
        hidden_states, references = outputs
        return dict(hidden_states=hidden_states, references=references)
