"""Transforms, registered in mmdet.registry.TRANSFORMS on import."""
from .color import DetrxColorJitter, DetrxGaussianBlur
from .loading import DetrxLoadImageFromFile
from .query_patches import PackQueryPatchInputs, RandomQueryPatches

__all__ = ['DetrxColorJitter', 'DetrxGaussianBlur', 'DetrxLoadImageFromFile', 'PackQueryPatchInputs',
           'RandomQueryPatches']
