"""Conditional DETR decoder and decoder layer as registry modules.

The decoder predicts a reference point per query from its object query (``ref_point_head``), embeds it
with the sine encoding, modulates that embedding per layer with ``T = query_scale(decoder embedding)``
(identity in the first layer), and hands it to each layer's conditional cross-attention. Layers, their
attentions and FFNs are built from the registry, so each can be swapped by config.

Parameter names equal mmdet's ``ConditionalDetrTransformerDecoder`` (``layers.i.{self_attn,cross_attn,ffn,
norms}``, ``post_norm``, ``query_scale``, ``ref_point_head``), so its state dicts load with ``strict=True``.

Deliberate differences from mmdet's decoder:

* The reference-point sine embedding uses ``embed_dims // 2`` frequencies per coordinate; mmdet (and the
  official code) hard-code 128, which only works for ``embed_dims=256``. Same result at 256.
* ``forward`` also takes ``self_attn_mask`` (e.g. a block-diagonal mask separating query groups) and
  ``reference_points`` (sigmoid space; to give extra queries their own reference points instead of the
  ones predicted from ``query_pos``). Queries may be of any length.
* ``keep_query_pos`` (use the object query in the cross-attention of every layer) is a decoder argument
  and works; in mmdet the projection it needs is deleted from layers after the first.
"""
from functools import partial
from typing import Optional, Tuple

import torch
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule, ModuleList
from torch import Tensor

from mmdet.models.layers.transformer.utils import MLP, coordinate_to_encoding
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from .conditional_attention import project
from .modular_detr_layers import build_with_default


@MODELS.register_module()
class CondDETRDecoderLayer(BaseModule):
    """Post-norm decoder layer: self-attention -> norm -> conditional cross-attention -> norm -> FFN -> norm.

    The residual connections live inside the attention modules and the FFN (mmdet convention).

    Args:
        self_attn_cfg (dict): self-attention config, default type ``CondDETRSelfAttention``.
        cross_attn_cfg (dict): cross-attention config, default type ``CondDETRCrossAttention``; a swapped-in
            type must accept ``use_query_pos`` and the forward arguments of ``CondDETRCrossAttention``.
        ffn_cfg (dict): FFN config, default type ``FastDropoutFFN`` (mmcv's FFN with cheaper CPU dropout;
            same parameters).
        norm_cfg (dict): normalization config. Defaults to LN.
        cross_attn_query_pos (bool): passed to the cross-attention as ``use_query_pos``: whether the object
            query is added to the content query / key there. The decoder sets it (True in the first layer).
            Defaults to True.
        init_cfg (dict, optional): initialization config.
    """

    def __init__(self,
                 self_attn_cfg: ConfigType = dict(embed_dims=256, num_heads=8),
                 cross_attn_cfg: ConfigType = dict(embed_dims=256, num_heads=8),
                 ffn_cfg: ConfigType = dict(
                     embed_dims=256,
                     feedforward_channels=2048,
                     num_fcs=2,
                     ffn_drop=0.,
                     act_cfg=dict(type='ReLU', inplace=True)),
                 norm_cfg: ConfigType = dict(type='LN'),
                 cross_attn_query_pos: bool = True,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.self_attn = build_with_default(self_attn_cfg, 'CondDETRSelfAttention')
        self.cross_attn = build_with_default(
            cross_attn_cfg, 'CondDETRCrossAttention', use_query_pos=cross_attn_query_pos)
        self.embed_dims = self.self_attn.embed_dims
        if self.cross_attn.embed_dims != self.embed_dims:
            raise ValueError(f'self_attn embed_dims ({self.embed_dims}) != cross_attn embed_dims '
                             f'({self.cross_attn.embed_dims})')
        self.ffn = build_with_default(ffn_cfg, 'FastDropoutFFN')
        self.norms = ModuleList([build_norm_layer(norm_cfg, self.embed_dims)[1] for _ in range(3)])

    def forward(self, query: Tensor, key: Tensor, query_pos: Tensor, key_pos: Tensor, ref_sine_embed: Tensor,
                self_attn_mask: Optional[Tensor] = None, cross_attn_mask: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None) -> Tensor:
        """
        Args:
            query (Tensor): decoder embeddings, (B, Q, D).
            key (Tensor): encoder memory, (B, K, D).
            query_pos (Tensor): object queries, (B, Q, D).
            key_pos (Tensor): memory positional embedding, (B, K, D).
            ref_sine_embed (Tensor): conditional spatial embedding ``T * PE(ref)``, (B, Q, D).
            self_attn_mask (Tensor, optional): (Q, Q) or (B * H, Q, Q); bool ``True`` = may not attend.
            cross_attn_mask (Tensor, optional): (Q, K) or (B * H, Q, K).
            key_padding_mask (Tensor, optional): (B, K), ``True`` at padded memory positions.

        Returns:
            Tensor: (B, Q, D).
        """
        query = self.self_attn(query=query, query_pos=query_pos, attn_mask=self_attn_mask)
        query = self.norms[0](query)
        query = self.cross_attn(query=query, key=key, key_pos=key_pos, ref_sine_embed=ref_sine_embed,
                                query_pos=query_pos, attn_mask=cross_attn_mask, key_padding_mask=key_padding_mask)
        query = self.norms[1](query)
        query = self.ffn(query)
        return self.norms[2](query)


@MODELS.register_module()
class CondDETRDecoder(BaseModule):
    """Conditional DETR decoder.

    Args:
        num_layers (int): number of decoder layers.
        layer_cfg (dict): config shared by all layers, default type ``CondDETRDecoderLayer``. Each layer is
            built with ``cross_attn_query_pos = (i == 0 or keep_query_pos)``.
        post_norm_cfg (dict): norm applied to each returned layer output. Defaults to LN.
        return_intermediate (bool): return the outputs of all layers (needed for auxiliary losses).
            Defaults to True.
        keep_query_pos (bool): use the object query in the cross-attention of every layer, not only the
            first. Defaults to False (paper).
        init_cfg (dict, optional): initialization config.
    """

    default_layer_type = 'CondDETRDecoderLayer'

    def __init__(self, num_layers: int, layer_cfg: ConfigType, post_norm_cfg: OptConfigType = dict(type='LN'),
                 return_intermediate: bool = True, keep_query_pos: bool = False,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        self.num_layers, self.return_intermediate, self.keep_query_pos = num_layers, return_intermediate, keep_query_pos
        self.layers = ModuleList([
            build_with_default(layer_cfg, self.default_layer_type, cross_attn_query_pos=(i == 0 or keep_query_pos))
            for i in range(num_layers)
        ])
        self.embed_dims = self.layers[0].embed_dims
        if self.embed_dims % 2 != 0:
            raise ValueError(f'embed_dims must be even for the 2-D sine embedding, got {self.embed_dims}')
        self.post_norm = build_norm_layer(post_norm_cfg, self.embed_dims)[1]
        # T in the paper: maps the decoder embedding to a per-channel scale of the sine embedding
        self.query_scale = MLP(self.embed_dims, self.embed_dims, self.embed_dims, 2)
        self.ref_point_head = MLP(self.embed_dims, self.embed_dims, 2, 2)

    def forward(self, query: Tensor, key: Tensor, query_pos: Tensor, key_pos: Tensor,
                key_padding_mask: Optional[Tensor] = None, self_attn_mask: Optional[Tensor] = None,
                reference_points: Optional[Tensor] = None, value: Optional[Tensor] = None,
                **kwargs) -> Tuple[Tensor, Tensor]:
        """
        Args:
            query (Tensor): initial decoder embeddings (zeros in the paper), (B, Q, D).
            key (Tensor): encoder memory, (B, K, D); also the value of the cross-attention.
            query_pos (Tensor): object queries, (B, Q, D).
            key_pos (Tensor): memory positional embedding, (B, K, D).
            key_padding_mask (Tensor, optional): (B, K), ``True`` at padded memory positions.
            self_attn_mask (Tensor, optional): (Q, Q) or (B * H, Q, Q) mask for the decoder self-attention;
                bool ``True`` = may not attend.
            reference_points (Tensor, optional): reference points in [0, 1] (x, y), (B, Q, 2). When None
                they are predicted from ``query_pos`` by ``ref_point_head``.
            value (Tensor, optional): ignored (the DETR decoders' interface; the memory ``key`` is the value).
            **kwargs: passed to every layer (e.g. ``cross_attn_mask``).

        Returns:
            tuple[Tensor, Tensor]:

            - hidden_states: (num_layers, B, Q, D) if ``return_intermediate`` else (1, B, Q, D), post-normed.
            - references: (B, Q, 2), the reference points in [0, 1].
        """
        self._check_inputs(query, key, query_pos, key_pos)
        num_queries = query.size(1)
        if self_attn_mask is not None and tuple(self_attn_mask.shape[-2:]) != (num_queries, num_queries):
            raise ValueError(f'self_attn_mask must have shape (Q, Q) or (B * num_heads, Q, Q) with Q={num_queries} '
                             f'queries, got {tuple(self_attn_mask.shape)}')
        if reference_points is None:
            reference_points = project(self.ref_point_head, query_pos).sigmoid()
        elif tuple(reference_points.shape) != (*query.shape[:2], 2):
            raise ValueError(f'reference_points must have shape (B, Q, 2)={(*query.shape[:2], 2)}, '
                             f'got {tuple(reference_points.shape)}')
        sine_embed = project(partial(coordinate_to_encoding, num_feats=self.embed_dims // 2), reference_points)
        intermediate = []
        for layer_id, layer in enumerate(self.layers):
            ref_sine_embed = sine_embed if layer_id == 0 else sine_embed * self.query_scale(query)
            query = layer(
                query,
                key=key,
                query_pos=query_pos,
                key_pos=key_pos,
                ref_sine_embed=ref_sine_embed,
                self_attn_mask=self_attn_mask,
                key_padding_mask=key_padding_mask,
                **kwargs)
            if self.return_intermediate:
                intermediate.append(self.post_norm(query))
        if self.return_intermediate:
            return torch.stack(intermediate), reference_points
        return self.post_norm(query).unsqueeze(0), reference_points

    def _check_inputs(self, query: Tensor, key: Tensor, query_pos: Tensor, key_pos: Tensor) -> None:
        if query.dim() != 3 or query.size(-1) != self.embed_dims:
            raise ValueError(f'query must have shape (B, Q, {self.embed_dims}), got {tuple(query.shape)}')
        if query_pos is None or query_pos.shape != query.shape:
            raise ValueError(f'query_pos must have the shape of query {tuple(query.shape)}, got '
                             f'{None if query_pos is None else tuple(query_pos.shape)}')
        if key.dim() != 3 or key.size(0) != query.size(0) or key.size(-1) != self.embed_dims:
            raise ValueError(f'key (memory) must have shape ({query.size(0)}, K, {self.embed_dims}), '
                             f'got {tuple(key.shape)}')
        if key_pos is None or key_pos.shape != key.shape:
            raise ValueError(f'key_pos must have the shape of key {tuple(key.shape)}, got '
                             f'{None if key_pos is None else tuple(key_pos.shape)}')
