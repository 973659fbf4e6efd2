"""RoI heads, registered in mmdet.registry.MODELS on import."""
from .co_roi_head import DetrxCoStandardRoIHead

__all__ = ['DetrxCoStandardRoIHead']
