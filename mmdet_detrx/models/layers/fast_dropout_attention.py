"""mmcv's ``MultiheadAttention`` with a cheaper CPU training path: the default attention of our DETR encoders and
decoders (``ModularDETR*Layer``; Conditional DETR's encoder).

mmcv's module wraps ``torch.nn.MultiheadAttention``, which in training (dropout on the weights) materialises the
attention weights, draws their dropout mask with ``bernoulli_`` and also averages the weights over heads for a
return value mmcv drops. ``FastDropoutMultiheadAttention`` keeps mmcv's parameters (``attn.in_proj_weight``,
``attn.in_proj_bias``, ``attn.out_proj``: state dicts are interchangeable) and, when training on CPU, computes the
same function with :func:`~mmdet_detrx.models.layers.attention_core.attend` (16-bit keep masks, no averaged
weights) and applies its output dropouts with :func:`~mmdet_detrx.models.layers.fast_dropout.fast_dropout`. The
query and key projections are one GEMM when the query and key inputs are the same tensor (self-attention).
Everywhere else (evaluation, GPU, options the fast path does not cover: ``bias_k`` / ``add_zero_attn`` / separate
key and value widths, a drop-path output layer) it runs mmcv's forward unchanged, so predictions are mmcv's.
"""
from typing import Optional

import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import MultiheadAttention
from torch import Tensor, nn

from mmdet.registry import MODELS
from .attention_core import attend, split_heads
from .fast_dropout import fast_dropout


def _dropout_probability(layer: nn.Module) -> Optional[float]:
    """p of an ``nn.Dropout`` (mmcv's ``Dropout`` is one), 0 for ``nn.Identity``, None for anything else."""
    if isinstance(layer, nn.Dropout):
        return layer.p
    return 0. if isinstance(layer, nn.Identity) else None


@MODELS.register_module()
class FastDropoutMultiheadAttention(MultiheadAttention):
    """mmcv ``MultiheadAttention`` (same arguments, parameters and forward) whose CPU training step costs less.

    Args: as mmcv's ``MultiheadAttention`` (``embed_dims``, ``num_heads``, ``attn_drop``, ``proj_drop``,
        ``dropout_layer``, ``init_cfg``, ``batch_first``, ``nn.MultiheadAttention`` keyword arguments).
    """

    def _fast_path(self, query: Tensor) -> bool:
        attn = self.attn
        return (self.training and query.device.type == 'cpu' and attn._qkv_same_embed_dim and attn.bias_k is None
                and not attn.add_zero_attn and _dropout_probability(self.dropout_layer) is not None)

    def forward(self,
                query: Tensor,
                key: Optional[Tensor] = None,
                value: Optional[Tensor] = None,
                identity: Optional[Tensor] = None,
                query_pos: Optional[Tensor] = None,
                key_pos: Optional[Tensor] = None,
                attn_mask: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None,
                **kwargs) -> Tensor:
        """As mmcv's ``MultiheadAttention.forward``.

        Args:
            query (Tensor): (B, Lq, D) when ``batch_first``, else (Lq, B, D).
            key (Tensor, optional): (B, Lk, D); ``query`` when None.
            value (Tensor, optional): (B, Lk, D); ``key`` when None.
            identity (Tensor, optional): residual added to the output; ``query`` when None.
            query_pos (Tensor, optional): added to ``query`` before its projection.
            key_pos (Tensor, optional): added to ``key`` before its projection; ``query_pos`` when None and
                the shapes agree (mmcv's rule).
            attn_mask (Tensor, optional): (Lq, Lk) or (B * H, Lq, Lk); bool ``True`` = may not attend.
            key_padding_mask (Tensor, optional): (B, Lk), ``True`` at padding.

        Returns:
            Tensor: ``identity + dropout(attention)``, the shape of ``query``.
        """
        if not self._fast_path(query):
            return super().forward(query, key, value, identity, query_pos, key_pos, attn_mask, key_padding_mask,
                                   **kwargs)
        shared_key = key is None or key is query
        key = query if key is None else key
        value = key if value is None else value
        identity = query if identity is None else identity
        if key_pos is None and query_pos is not None and query_pos.shape == key.shape:
            key_pos = query_pos
        shared_key = shared_key and key_pos is query_pos
        if not self.batch_first:  # (L, B, D) -> (B, L, D) views
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
            query_pos = None if query_pos is None else query_pos.transpose(0, 1)
            key_pos = None if key_pos is None else key_pos.transpose(0, 1)
        dims, heads = self.embed_dims, self.num_heads
        weight, bias = self.attn.in_proj_weight, self.attn.in_proj_bias
        rows = [slice(0, dims), slice(dims, 2 * dims), slice(2 * dims, 3 * dims)]

        def proj(x: Tensor, part: slice) -> Tensor:
            return F.linear(x, weight[part], None if bias is None else bias[part])

        query_in = query if query_pos is None else query + query_pos
        if shared_key:  # self-attention: one GEMM for the query and key projections
            q, k = proj(query_in, slice(0, 2 * dims)).split(dims, dim=-1)
        else:
            q = proj(query_in, rows[0])
            k = proj(key if key_pos is None else key + key_pos, rows[1])
        v = proj(value, rows[2])
        out = attend(split_heads(q, heads), split_heads(k, heads), split_heads(v, heads), attn_mask,
                     key_padding_mask, self.attn.dropout, True)
        out = self.attn.out_proj(out)
        out = fast_dropout(out, self.proj_drop.p, True)
        out = fast_dropout(out, _dropout_probability(self.dropout_layer), True)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return identity + out
