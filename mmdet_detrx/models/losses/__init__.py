"""Registered in mmdet.registry.MODELS on import."""
from .feature_reconstruction import FeatureReconstructionLoss  # noqa: F401
