"""Backbones, registered in mmdet.registry.MODELS on import."""
from .efficientnet_lite import EfficientNetLite
from .resnet_dc import TVDilatedResNet

__all__ = ['EfficientNetLite', 'TVDilatedResNet']
