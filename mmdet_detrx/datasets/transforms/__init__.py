"""Transforms, registered in mmdet.registry.TRANSFORMS on import."""
from .color import DetrxColorJitter, DetrxGaussianBlur
from .loading import DetrxLoadImageFromFile
from .query_patches import PackOneShotInputs, PackQueryPatchInputs, RandomQueryPatches

__all__ = ['DetrxColorJitter', 'DetrxGaussianBlur', 'DetrxLoadImageFromFile', 'PackOneShotInputs',
           'PackQueryPatchInputs', 'RandomQueryPatches']
