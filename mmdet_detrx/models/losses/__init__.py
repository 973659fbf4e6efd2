"""Registered in mmdet.registry.MODELS on import."""
