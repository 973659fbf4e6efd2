"""DETR whose positional encoding, encoder and decoder are built from the registry."""
from typing import Dict, Optional

from torch import Tensor, nn

from mmdet.models.detectors import DETR
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from ..gt_checks import check_gt_instances
from ..layers.modular_detr_layers import build_with_default


@MODELS.register_module()
class ModularDETR(DETR):
    """DETR (Carion et al., 2020) built from registry components; the base of our DETR-family detectors.

    Same template as mmdet's ``DETR`` (``pre_transformer`` -> ``forward_encoder`` -> ``pre_decoder`` ->
    ``forward_decoder``) and the same parameter names, but ``positional_encoding``, ``encoder`` and
    ``decoder`` are built with ``MODELS.build``; a config without ``type`` gets the class defaults below,
    so mmdet's DETR configs work after changing only the detector ``type``.

    Subclasses change a stage by overriding one template method and/or the ``default_*_type`` attributes.

    Args: as mmdet's :class:`~mmdet.models.detectors.DetectionTransformer`.
    """

    default_positional_encoding_type = 'SinePositionalEncoding'
    default_encoder_type = 'ModularDETREncoder'
    default_decoder_type = 'ModularDETRDecoder'

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """mmdet's DETR loss after :func:`~mmdet_detrx.models.gt_checks.check_gt_instances` (the image is named)."""
        check_gt_instances(batch_data_samples, self.bbox_head.num_classes)
        return super().loss(batch_inputs, batch_data_samples)

    def _init_layers(self) -> None:
        """Builds positional encoding, encoder, decoder and the object queries from their configs."""
        for name in ('positional_encoding', 'encoder', 'decoder'):
            if getattr(self, name) is None:
                raise ValueError(f'{type(self).__name__} needs a `{name}` config')
        self.positional_encoding = build_with_default(self.positional_encoding,
                                                      self.default_positional_encoding_type)
        self.encoder = build_with_default(self.encoder, self.default_encoder_type)
        self.decoder = build_with_default(self.decoder, self.default_decoder_type)
        self.embed_dims = self.encoder.embed_dims
        if self.decoder.embed_dims != self.embed_dims:
            raise ValueError(f'encoder embed_dims ({self.embed_dims}) != decoder embed_dims '
                             f'({self.decoder.embed_dims})')
        num_feats = getattr(self.positional_encoding, 'num_feats', None)
        if num_feats is not None and 2 * num_feats != self.embed_dims:
            raise ValueError(f'positional_encoding.num_feats ({num_feats}) must be embed_dims / 2 '
                             f'({self.embed_dims} / 2)')
        self.query_embedding = nn.Embedding(self.num_queries, self.embed_dims)

    def forward_decoder(self,
                        query: Tensor,
                        query_pos: Tensor,
                        memory: Tensor,
                        memory_mask: Optional[Tensor],
                        memory_pos: Tensor,
                        self_attn_mask: Optional[Tensor] = None,
                        **decoder_inputs) -> Dict:
        """Runs the decoder.

        Args:
            query (Tensor): (B, Q, D); Q may differ from ``num_queries`` (extra query groups).
            query_pos (Tensor): (B, Q, D).
            memory (Tensor): encoder output, (B, K, D).
            memory_mask (Tensor, optional): (B, K), ``True`` at padding.
            memory_pos (Tensor): (B, K, D).
            self_attn_mask (Tensor, optional): (Q, Q) or (B * H, Q, Q) mask for the decoder self-attention,
                ``True`` = may not attend.
            **decoder_inputs: further inputs of the decoder type (e.g. ``reference_points`` of
                :class:`CondDETRDecoder`).

        Returns:
            dict: the head's decoder inputs, :meth:`decoder_outputs_to_dict` of the decoder's outputs.
        """
        outputs = self.decoder(query=query, key=memory, value=memory, query_pos=query_pos, key_pos=memory_pos,
                               key_padding_mask=memory_mask, self_attn_mask=self_attn_mask, **decoder_inputs)
        return self.decoder_outputs_to_dict(outputs)

    def decoder_outputs_to_dict(self, outputs: Tensor) -> Dict:
        """The decoder's outputs as the head's inputs: ``hidden_states`` (num_layers, B, Q, D)."""
        return dict(hidden_states=outputs)
