"""Registered in mmdet.registry.MODELS on import."""
from .conditional_attention import CondDETRCrossAttention, CondDETRSelfAttention  # noqa: F401
from .fast_dropout import FastDropoutFFN  # noqa: F401
from .fast_dropout_attention import FastDropoutMultiheadAttention  # noqa: F401
from .conditional_detr_layers import CondDETRDecoder, CondDETRDecoderLayer  # noqa: F401
from .modular_detr_layers import (ModularDETRDecoder, ModularDETRDecoderLayer, ModularDETREncoder,  # noqa: F401
                                  ModularDETREncoderLayer)
from .co_detr_layers import DetrxCoMemoryNeck, DetrxCoPositiveQueryGenerator  # noqa: F401
from .up_detr_layers import QueryPatchEncoder  # noqa: F401
from .metr_layers import METRCategoryExtractor, METRQueryGenerator  # noqa: F401
