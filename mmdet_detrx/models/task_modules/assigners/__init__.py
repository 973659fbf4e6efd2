"""Assigners, registered in mmdet.registry.TASK_UTILS on import."""
from .batched_hungarian import BatchedHungarianAssigner  # noqa: F401
from .group_hungarian import GroupHungarianAssigner  # noqa: F401
