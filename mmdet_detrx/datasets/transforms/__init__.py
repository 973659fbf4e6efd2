"""Transforms, registered in mmdet.registry.TRANSFORMS on import."""
from .loading import DetrxLoadImageFromFile

__all__ = ['DetrxLoadImageFromFile']
