"""Multi-head attention core shared by our attention modules: the mask bias, the head split and
``softmax(q k^T / sqrt(d) + bias) v`` with CPU-cheap dropout of the weights.

The core is one ``baddbmm`` with an additive mask bias, softmax, dropout and one ``bmm``: no max subtraction
(softmax does it), no head-averaged attention weights (``nn.MultiheadAttention`` computes them by default and
mmcv drops them). On CPU the dropout of the weights draws a 16-bit keep mask
(:func:`~mmdet_detrx.models.layers.fast_dropout.fast_dropout_unscaled`) and its ``1 / (1 - p)`` is applied to the
weights-times-values product, which is ``Lk / dv`` times smaller than the weights.
"""
from typing import Optional

import torch
from torch import Tensor

from .fast_dropout import fast_dropout_unscaled


def attention_bias(attn_mask: Optional[Tensor], key_padding_mask: Optional[Tensor], batch_size: int,
                   num_heads: int, num_queries: int, num_keys: int, dtype: torch.dtype) -> Optional[Tensor]:
    """Merges an attention mask and a key padding mask into one additive bias of the attention logits.

    Masks follow :class:`torch.nn.MultiheadAttention`: a bool ``True`` (or non-zero byte) means *may not
    attend*; a float ``attn_mask`` is added to the logits.

    Args:
        attn_mask (Tensor, optional): (num_queries, num_keys) or (batch_size * num_heads, num_queries,
            num_keys), bool / uint8 / float.
        key_padding_mask (Tensor, optional): (batch_size, num_keys), bool / uint8, ``True`` at padding.
        batch_size (int): B.
        num_heads (int): H.
        num_queries (int): Lq.
        num_keys (int): Lk.
        dtype (torch.dtype): dtype of the returned bias.

    Returns:
        Tensor or None: bias broadcastable to (B * H, Lq, Lk), with ``-inf`` where attention is not allowed;
        None when both masks are None.

    Raises:
        ValueError: a mask has a wrong shape or dtype.
    """
    bias = None
    if attn_mask is not None:
        if not (attn_mask.dtype in (torch.bool, torch.uint8) or attn_mask.is_floating_point()):
            raise ValueError(f'attn_mask must be bool, uint8 or float, got {attn_mask.dtype}')
        if attn_mask.dim() == 2 and tuple(attn_mask.shape) == (num_queries, num_keys):
            attn_mask = attn_mask[None]
        elif not (attn_mask.dim() == 3
                  and tuple(attn_mask.shape) == (batch_size * num_heads, num_queries, num_keys)):
            raise ValueError(
                f'attn_mask must have shape (num_queries, num_keys)=({num_queries}, {num_keys}) or '
                f'(batch_size * num_heads, num_queries, num_keys)=({batch_size * num_heads}, {num_queries}, '
                f'{num_keys}), got {tuple(attn_mask.shape)}')
        if attn_mask.is_floating_point():
            bias = attn_mask.to(dtype)
        else:
            bias = torch.zeros(attn_mask.shape, dtype=dtype, device=attn_mask.device).masked_fill_(
                attn_mask.bool(), float('-inf'))
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (batch_size, num_keys):
            raise ValueError(f'key_padding_mask must have shape (batch_size, num_keys)=({batch_size}, '
                             f'{num_keys}), got {tuple(key_padding_mask.shape)}')
        padding = torch.zeros((batch_size, 1, 1, num_keys), dtype=dtype, device=key_padding_mask.device)
        padding.masked_fill_(key_padding_mask.bool()[:, None, None, :], float('-inf'))
        padding = padding.expand(batch_size, num_heads, 1, num_keys).reshape(batch_size * num_heads, 1, num_keys)
        bias = padding if bias is None else bias + padding
    return bias


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(B, L, H * d) -> (B, H, L, d) view."""
    batch_size, length, channels = x.shape
    return x.view(batch_size, length, num_heads, channels // num_heads).transpose(1, 2)


def attend(q: Tensor, k: Tensor, v: Tensor, attn_mask: Optional[Tensor], key_padding_mask: Optional[Tensor],
           attn_drop: float, training: bool) -> Tensor:
    """Multi-head attention on projected, head-split inputs: ``softmax(q_h k_h^T / sqrt(dq) + bias) v_h`` per
    head h, dropout ``attn_drop`` on the weights when ``training``, heads concatenated.

    ``dq`` is the per-head query width (twice the value width in Conditional DETR's cross-attention, as in the
    paper and mmdet).

    Args:
        q (Tensor): (B, H, Lq, dq).
        k (Tensor): (B, H, Lk, dq).
        v (Tensor): (B, H, Lk, dv).
        attn_mask (Tensor, optional): see :func:`attention_bias`.
        key_padding_mask (Tensor, optional): (B, Lk), ``True`` at padding.
        attn_drop (float): dropout probability of the attention weights.
        training (bool): apply the dropout.

    Returns:
        Tensor: (B, Lq, H * dv), before any output projection.
    """
    batch_size, num_heads, num_queries, query_dims = q.shape
    num_keys = k.size(2)
    bias = attention_bias(attn_mask, key_padding_mask, batch_size, num_heads, num_queries, num_keys, q.dtype)
    # without a mask, beta=0: baddbmm then skips copying the broadcast bias into the (B * H, Lq, Lk) logits
    logits = torch.baddbmm(q.new_zeros((1, 1, 1)) if bias is None else bias,
                           q.reshape(batch_size * num_heads, num_queries, query_dims),
                           k.reshape(batch_size * num_heads, num_keys, query_dims).transpose(1, 2),
                           beta=0. if bias is None else 1., alpha=query_dims**-0.5)
    weights, scale = fast_dropout_unscaled(logits.softmax(-1), attn_drop, training)
    out = torch.bmm(weights, v.reshape(batch_size * num_heads, num_keys, -1))
    if scale != 1.:
        out = out.mul_(scale)
    return out.view(batch_size, num_heads, num_queries, -1).transpose(1, 2).reshape(batch_size, num_queries, -1)
