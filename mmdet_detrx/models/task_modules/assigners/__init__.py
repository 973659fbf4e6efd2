"""Assigners, registered in mmdet.registry.TASK_UTILS on import."""
from .batched_hungarian import BatchedHungarianAssigner  # noqa: F401
