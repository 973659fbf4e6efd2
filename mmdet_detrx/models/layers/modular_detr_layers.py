"""DETR encoder / decoder whose layers, attentions and FFNs are built from the registry.

mmdet's ``DetrTransformerEncoder`` / ``DetrTransformerDecoder`` construct ``DetrTransformer*Layer`` and
mmcv's ``MultiheadAttention`` / ``FFN`` directly, so none of them can be swapped by config. The classes
here subclass them, keep their forward passes and parameter names (state dicts stay interchangeable with
mmdet's ``DETR`` / ``ConditionalDETR`` encoders), and only change how the children are built: every
``*_cfg`` may carry a ``type``; without one the mmdet default is used, so mmdet's configs work unchanged --
except the FFN and the attentions, whose defaults are ``FastDropoutFFN`` and ``FastDropoutMultiheadAttention``:
mmcv's FFN and MultiheadAttention with the same parameters and forward, but a CPU training path that costs less
(:mod:`~mmdet_detrx.models.layers.fast_dropout`, :mod:`~mmdet_detrx.models.layers.fast_dropout_attention`).
"""
from mmcv.cnn import build_norm_layer
from mmengine.model import ModuleList

from mmdet.models.layers.transformer.detr_layers import (DetrTransformerDecoder, DetrTransformerDecoderLayer,
                                                         DetrTransformerEncoder, DetrTransformerEncoderLayer,
                                                         checkpoint_wrapper)
from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from . import fast_dropout  # noqa: F401  registers FastDropoutFFN, the default FFN
from . import fast_dropout_attention  # noqa: F401  registers FastDropoutMultiheadAttention, the default attention


def build_with_default(cfg: ConfigType, default_type: str, **overrides):
    """Builds ``cfg`` from ``MODELS``, using ``default_type`` when ``cfg`` has no ``type``.

    Args:
        cfg (dict | ConfigDict): module config; not modified.
        default_type (str): registry name used when ``cfg`` has no ``type``.
        **overrides: keys set on a copy of ``cfg`` before building (they win over ``cfg``).

    Returns:
        nn.Module: the built module.
    """
    cfg = dict(cfg)
    cfg.update(overrides)
    return MODELS.build(cfg, default_args=dict(type=default_type))


def build_layer_parts(layer, num_norms: int) -> None:
    """Builds a DETR layer's children from its ``*_cfg`` (mmdet's layer ``_init_layers`` with registry types):
    ``self_attn`` (and ``cross_attn`` for a decoder layer, ``num_norms=3``), ``ffn`` and ``num_norms`` norms, in
    mmdet's order (parameter names and initialisation order as mmdet's)."""
    layer.self_attn = build_with_default(layer.self_attn_cfg, 'FastDropoutMultiheadAttention')
    if num_norms == 3:
        layer.cross_attn = build_with_default(layer.cross_attn_cfg, 'FastDropoutMultiheadAttention')
    layer.embed_dims = layer.self_attn.embed_dims
    layer.ffn = build_with_default(layer.ffn_cfg, 'FastDropoutFFN')
    layer.norms = ModuleList([build_norm_layer(layer.norm_cfg, layer.embed_dims)[1] for _ in range(num_norms)])


@MODELS.register_module()
class ModularDETREncoderLayer(DetrTransformerEncoderLayer):
    """mmdet's ``DetrTransformerEncoderLayer`` (post-norm self-attention + FFN) with registry-built parts.

    Args:
        self_attn_cfg (dict): attention config, default type ``FastDropoutMultiheadAttention`` (mmcv's
            ``MultiheadAttention``, cheaper CPU training path).
        ffn_cfg (dict): FFN config, default type ``FastDropoutFFN`` (mmcv's ``FFN``, cheaper CPU dropout).
        norm_cfg (dict): normalization config. Defaults to LN.
        init_cfg (dict, optional): initialization config.
    """

    def _init_layers(self) -> None:
        build_layer_parts(self, num_norms=2)


@MODELS.register_module()
class ModularDETRDecoderLayer(DetrTransformerDecoderLayer):
    """mmdet's ``DetrTransformerDecoderLayer`` (self-attn, cross-attn, FFN, post-norm) with registry-built
    parts. ``self_attn_mask`` of the forward is passed to the self-attention, so query groups can be kept
    apart by a block mask.

    Args: as :class:`ModularDETREncoderLayer`, and ``cross_attn_cfg`` (dict), default type
        ``FastDropoutMultiheadAttention``.
    """

    def _init_layers(self) -> None:
        build_layer_parts(self, num_norms=3)


@MODELS.register_module()
class ModularDETREncoder(DetrTransformerEncoder):
    """DETR encoder whose layers are built from ``layer_cfg`` (default type ``ModularDETREncoderLayer``).

    Forward as mmdet's ``DetrTransformerEncoder``: ``query`` (B, N, D), ``query_pos`` (B, N, D),
    ``key_padding_mask`` (B, N) -> memory (B, N, D).

    Args:
        num_layers (int): number of layers.
        layer_cfg (dict): config shared by all layers.
        num_cp (int): number of layers wrapped for activation checkpointing (needs fairscale). Defaults
            to -1 (none).
        init_cfg (dict, optional): initialization config.
    """

    default_layer_type = 'ModularDETREncoderLayer'

    def _init_layers(self) -> None:
        self.layers = ModuleList(
            [build_with_default(self.layer_cfg, self.default_layer_type) for _ in range(self.num_layers)])
        if self.num_cp > 0:
            if checkpoint_wrapper is None:
                raise NotImplementedError('num_cp > 0 needs fairscale: pip install fairscale')
            for i in range(self.num_cp):
                self.layers[i] = checkpoint_wrapper(self.layers[i])
        self.embed_dims = self.layers[0].embed_dims


@MODELS.register_module()
class ModularDETRDecoder(DetrTransformerDecoder):
    """DETR decoder whose layers are built from ``layer_cfg`` (default type ``ModularDETRDecoderLayer``).

    Forward as mmdet's ``DetrTransformerDecoder`` (extra keyword arguments such as ``self_attn_mask``
    reach every layer) -> (num_layers or 1, B, Q, D).

    Args:
        num_layers (int): number of layers.
        layer_cfg (dict): config shared by all layers.
        post_norm_cfg (dict): norm applied to every returned layer output. Defaults to LN.
        return_intermediate (bool): return every layer's output. Defaults to True.
        init_cfg (dict, optional): initialization config.
    """

    default_layer_type = 'ModularDETRDecoderLayer'

    def _init_layers(self) -> None:
        self.layers = ModuleList(
            [build_with_default(self.layer_cfg, self.default_layer_type) for _ in range(self.num_layers)])
        self.embed_dims = self.layers[0].embed_dims
        self.post_norm = build_norm_layer(self.post_norm_cfg, self.embed_dims)[1]
