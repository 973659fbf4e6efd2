"""Conditional self- and cross-attention of Conditional DETR as registry modules.

Parameter names (``qcontent_proj``, ``qpos_proj``, ``kcontent_proj``, ``kpos_proj``, ``v_proj``,
``qpos_sine_proj``, ``out_proj``) equal those of mmdet's ``ConditionalAttention``, so state dicts of
mmdet's ``ConditionalDETR`` load unchanged.

Deliberate differences from mmdet's ``ConditionalAttention``:

* Self- and cross-attention are two classes (one job each) instead of one class with a ``cross_attn`` flag.
* Whether the cross-attention adds the projected object query to the content query (the paper does it in
  the first decoder layer only) is a constructor argument, ``use_query_pos``; without it the module simply
  has no ``qpos_proj``. mmdet builds the projection in every layer and deletes it afterwards, which makes
  ``keep_query_pos=True`` crash there.
* The attention core is leaner (:func:`~mmdet_detrx.models.layers.attention_core.attend`: one ``baddbmm``
  with an additive mask bias, softmax, ``bmm``; no max subtraction, no averaged attention weights that mmdet
  computes and drops); same math and scaling.
* On CPU, dropout (``attn_drop``, ``proj_drop``) draws a 16-bit keep mask instead of ``bernoulli_`` (same
  distribution to within 7.6e-6, different random stream, less than half the cost), see
  :func:`~mmdet_detrx.models.layers.fast_dropout.fast_dropout`; the attention weights' ``1 / (1 - p)`` is
  applied to the weights-times-values product, which is smaller than the weights.
"""
from typing import Callable, Optional

import torch
from mmcv.cnn import Linear
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.utils import OptMultiConfig
from .attention_core import attend, attention_bias, split_heads  # noqa: F401  attention_bias: public here too
from .fast_dropout import fast_dropout


def batch_shared(x: Tensor) -> bool:
    """Whether ``x`` (B, L, C) is one (L, C) tensor expanded over the batch (batch stride 0, B > 1): the
    learned object queries of a plain (Conditional) DETR are, see :meth:`CondDETR.pre_decoder`."""
    return x.dim() == 3 and x.size(0) > 1 and x.stride(0) == 0


def project(module: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """``module(x)`` for a row-wise module (Linear, MLP) and x (B, L, C); a :func:`batch_shared` x is projected
    once and the result expanded over the batch (the same values for 1/B of the work, forward and backward).

    Returns:
        Tensor: (B, L, C_out); batch-shared (stride 0) when x is.
    """
    if batch_shared(x):
        out = module(x[:1])
        return out.expand(x.size(0), *out.shape[1:])
    return module(x)


class _ConditionalAttentionBase(BaseModule):
    """Projections and attention core shared by the conditional self- and cross-attention.

    Args:
        embed_dims (int): D, the embedding dimension.
        num_heads (int): H, parallel attention heads; must divide ``embed_dims``.
        attn_drop (float): dropout on the attention weights. Defaults to 0.
        proj_drop (float): dropout on the attention output before the residual addition. Defaults to 0.
        batch_first (bool): must be True (all DETRs in mmdet are batch first); accepted for config
            compatibility with mmdet's ``ConditionalAttention``.
        init_cfg (dict, optional): initialization config.
        with_qpos_proj (bool): create ``qpos_proj``. Defaults to True.
    """

    def __init__(self, embed_dims: int, num_heads: int, attn_drop: float = 0., proj_drop: float = 0.,
                 batch_first: bool = True, init_cfg: OptMultiConfig = None, with_qpos_proj: bool = True) -> None:
        super().__init__(init_cfg=init_cfg)
        if not batch_first:
            raise ValueError(f'{type(self).__name__} supports batch_first=True only (inputs are (B, L, D))')
        if embed_dims % num_heads != 0:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible by num_heads ({num_heads})')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.proj_drop = proj_drop
        self.qcontent_proj = Linear(embed_dims, embed_dims)
        self.qpos_proj = Linear(embed_dims, embed_dims) if with_qpos_proj else None
        self.kcontent_proj = Linear(embed_dims, embed_dims)
        self.kpos_proj = Linear(embed_dims, embed_dims)
        self.v_proj = Linear(embed_dims, embed_dims)

    def _init_out_proj(self) -> None:
        # created last so that parameter order matches mmdet's ConditionalAttention
        self.out_proj = Linear(self.embed_dims, self.embed_dims)
        nn.init.constant_(self.out_proj.bias, 0.)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, attn_mask: Optional[Tensor],
                key_padding_mask: Optional[Tensor]) -> Tensor:
        """:func:`~mmdet_detrx.models.layers.attention_core.attend` with this module's ``attn_drop``, then
        ``out_proj``: (B, H, Lq, dq), (B, H, Lk, dq), (B, H, Lk, dv) -> (B, Lq, D)."""
        return self.out_proj(attend(q, k, v, attn_mask, key_padding_mask, self.attn_drop, self.training))


@MODELS.register_module()
class CondDETRSelfAttention(_ConditionalAttentionBase):
    """Decoder self-attention of Conditional DETR with separate content / position projections.

    ``q = Wqc x + Wqp p``, ``k = Wkc x + Wkp p``, ``v = Wv x``; output ``x + drop(Wo attn(q, k, v))``.

    Args: see :class:`_ConditionalAttentionBase`. ``cross_attn=False`` (mmdet config key) is accepted and
        ignored; ``cross_attn=True`` raises.
    """

    def __init__(self, embed_dims: int, num_heads: int, cross_attn: bool = False, **kwargs) -> None:
        if cross_attn:
            raise ValueError('CondDETRSelfAttention got cross_attn=True; use CondDETRCrossAttention')
        super().__init__(embed_dims, num_heads, **kwargs)
        self._init_out_proj()

    def forward(self,
                query: Tensor,
                query_pos: Tensor,
                attn_mask: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None) -> Tensor:
        """Self-attention among the queries.

        Args:
            query (Tensor): content queries x, (B, Q, D).
            query_pos (Tensor): positional queries p, (B, Q, D).
            attn_mask (Tensor, optional): (Q, Q) or (B * H, Q, Q); bool ``True`` = may not attend, float
                is added to the logits (see :func:`attention_bias`).
            key_padding_mask (Tensor, optional): (B, Q), ``True`` for queries nobody may attend to.

        Returns:
            Tensor: (B, Q, D).
        """
        if query_pos.shape != query.shape:
            raise ValueError(f'query_pos must have the shape of query {tuple(query.shape)}, '
                             f'got {tuple(query_pos.shape)}')
        q = self.qcontent_proj(query) + project(self.qpos_proj, query_pos)
        k = self.kcontent_proj(query) + project(self.kpos_proj, query_pos)
        v = self.v_proj(query)
        heads = self.num_heads
        out = self._attend(split_heads(q, heads), split_heads(k, heads), split_heads(v, heads), attn_mask,
                           key_padding_mask)
        return query + fast_dropout(out, self.proj_drop, self.training)


@MODELS.register_module()
class CondDETRCrossAttention(_ConditionalAttentionBase):
    """Conditional cross-attention: content and spatial parts are concatenated per head, not added.

    Per head h, the query is ``[c_q^h ; s^h]`` with content query ``c_q = Wqc x (+ Wqp p)`` and conditional
    spatial query ``s = Ws (lambda_q * PE(ref))`` (``ref_sine_embed``), the key is ``[c_k^h ; p_k^h]`` with
    ``c_k = Wkc m (+ Wkp pos)`` and ``p_k = Wkp pos``. So the logit is content-content plus
    spatial-spatial similarity, each head with its own spatial band (paper Eq. 3-4).

    Args:
        embed_dims (int): D.
        num_heads (int): H.
        use_query_pos (bool): add the projected object query ``Wqp p`` to the content query and ``p_k`` to
            the content key, as the paper does in the first decoder layer. When False the module has no
            ``qpos_proj`` (like mmdet's layers after the first). Defaults to True.
        cross_attn (bool): mmdet config key; must be True when given.
        **kwargs: ``attn_drop``, ``proj_drop``, ``batch_first``, ``init_cfg``.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 use_query_pos: bool = True,
                 cross_attn: bool = True,
                 **kwargs) -> None:
        if not cross_attn:
            raise ValueError('CondDETRCrossAttention got cross_attn=False; use CondDETRSelfAttention')
        super().__init__(embed_dims, num_heads, with_qpos_proj=use_query_pos, **kwargs)
        self.use_query_pos = use_query_pos
        self.qpos_sine_proj = Linear(embed_dims, embed_dims)
        self._init_out_proj()

    def forward(self, query: Tensor, key: Tensor, key_pos: Tensor, ref_sine_embed: Tensor,
                query_pos: Optional[Tensor] = None, attn_mask: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None) -> Tensor:
        """Cross-attention from the queries to the encoder memory.

        Args:
            query (Tensor): decoder embeddings x, (B, Q, D).
            key (Tensor): encoder memory m, (B, K, D); also the value.
            key_pos (Tensor): positional embedding of the memory, (B, K, D).
            ref_sine_embed (Tensor): ``lambda_q * PE(ref)``, the transformed sine embedding of the reference
                points, (B, Q, D).
            query_pos (Tensor, optional): object queries p, (B, Q, D); required when ``use_query_pos``.
            attn_mask (Tensor, optional): (Q, K) or (B * H, Q, K).
            key_padding_mask (Tensor, optional): (B, K), ``True`` at padded memory positions.

        Returns:
            Tensor: (B, Q, D).
        """
        if key_pos.shape != key.shape:
            raise ValueError(f'key_pos must have the shape of key {tuple(key.shape)}, got {tuple(key_pos.shape)}')
        if ref_sine_embed.shape != query.shape:
            raise ValueError(f'ref_sine_embed must have the shape of query {tuple(query.shape)}, '
                             f'got {tuple(ref_sine_embed.shape)}')
        q_content = self.qcontent_proj(query)
        k_content = self.kcontent_proj(key)
        k_pos = self.kpos_proj(key_pos)
        v = self.v_proj(key)
        if self.use_query_pos:
            if query_pos is None or query_pos.shape != query.shape:
                raise ValueError('CondDETRCrossAttention(use_query_pos=True) needs query_pos of shape '
                                 f'{tuple(query.shape)}, got '
                                 f'{None if query_pos is None else tuple(query_pos.shape)}')
            q_content = q_content + project(self.qpos_proj, query_pos)
            k_content = k_content + k_pos
        q_spatial = project(self.qpos_sine_proj, ref_sine_embed)
        # per head h: query [c_q^h ; s^h] and key [c_k^h ; p_k^h], width 2 * D / H
        heads = self.num_heads
        q = torch.cat([split_heads(q_content, heads), split_heads(q_spatial, heads)], dim=-1)
        k = torch.cat([split_heads(k_content, heads), split_heads(k_pos, heads)], dim=-1)
        out = self._attend(q, k, split_heads(v, heads), attn_mask, key_padding_mask)
        return query + fast_dropout(out, self.proj_drop, self.training)
