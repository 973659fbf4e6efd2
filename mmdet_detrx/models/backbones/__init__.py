"""Backbones, registered in mmdet.registry.MODELS on import."""
from .resnet_dc import TVDilatedResNet

__all__ = ['TVDilatedResNet']
