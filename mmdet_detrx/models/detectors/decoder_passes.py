"""One pass of mmdet's Deformable-DETR-style and DAB-DETR decoders over given queries with a self-attention mask.

mmdet's ``DeformableDETR.forward_decoder`` and ``DABDETR.forward_decoder`` take no self-attention mask, but their
decoders do (``self_attn_mask`` / ``self_attn_masks``, passed on to every layer). Methods that decode masked query
groups through a base detector's own decoder (Co-DETR's positive query groups, UP-DETR's query-patch groups) run
the pass here, so the base's decoder call lives in one place.
"""
from typing import Dict, Optional

from torch import Tensor


def deformable_decoder_pass(detector, query: Tensor, query_pos: Optional[Tensor], reference_points: Tensor,
                            memory: Tensor, memory_mask: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                            valid_ratios: Tensor, self_attn_mask: Optional[Tensor] = None) -> Dict:
    """The decoder of a ``DeformableDETR`` (or subclass) over ``query``.

    Args:
        detector: The Deformable DETR detector (its ``decoder``, ``with_box_refine`` and ``bbox_head.reg_branches``).
        query (Tensor): content queries, (B, Q, C).
        query_pos (Tensor, optional): positional queries, (B, Q, C).
        reference_points (Tensor): initial references in [0, 1], (B, Q, 2) points or (B, Q, 4) boxes.
        memory, memory_mask, spatial_shapes, level_start_index, valid_ratios: the encoder's outputs and level
            layout, as for ``DeformableDETR.forward_decoder``.
        self_attn_mask (Tensor, optional): (Q, Q) or (B * num_heads, Q, Q) bool, True = may not attend.

    Returns:
        dict: ``hidden_states`` (L, B, Q, C) and ``references`` (the initial and every layer's references), the
        head's inputs as ``DeformableDETR.forward_decoder`` returns them.
    """
    reg_branches = detector.bbox_head.reg_branches if detector.with_box_refine else None
    hidden_states, references = detector.decoder(
        query=query, query_pos=query_pos, value=memory, key_padding_mask=memory_mask,
        reference_points=reference_points, spatial_shapes=spatial_shapes, level_start_index=level_start_index,
        valid_ratios=valid_ratios, reg_branches=reg_branches, self_attn_mask=self_attn_mask)
    return dict(hidden_states=hidden_states, references=[reference_points, *references])


def dab_decoder_pass(detector, query: Tensor, anchors: Tensor, memory: Tensor, memory_mask: Tensor,
                     memory_pos: Tensor, self_attn_mask: Optional[Tensor] = None) -> Dict:
    """The decoder of a ``DABDETR`` (or subclass) over content queries and their anchor boxes.

    Args:
        detector: The DAB-DETR detector (its ``decoder`` and ``bbox_head.fc_reg`` for the anchor refinement).
        query (Tensor): content queries, (B, Q, C).
        anchors (Tensor): the anchor boxes before the sigmoid (inverse-sigmoid (cx, cy, w, h)), (B, Q, 4), as
            DAB-DETR's ``query_pos``.
        memory, memory_mask, memory_pos: the encoder output, its padding mask and positional encoding.
        self_attn_mask (Tensor, optional): (Q, Q) or (B * num_heads, Q, Q) bool, True = may not attend.

    Returns:
        dict: ``hidden_states`` (L, B, Q, C) and ``references`` (L, B, Q, 4), as ``DABDETR.forward_decoder``.
    """
    hidden_states, references = detector.decoder(
        query=query, key=memory, query_pos=anchors, key_pos=memory_pos, key_padding_mask=memory_mask,
        reg_branches=detector.bbox_head.fc_reg, self_attn_masks=self_attn_mask)
    return dict(hidden_states=hidden_states, references=references)
