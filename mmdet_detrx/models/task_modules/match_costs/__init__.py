"""Match costs, registered in mmdet.registry.TASK_UTILS on import."""
from .batched_match_cost import (BATCHED_MATCH_COSTS, BatchedBBoxL1Cost, BatchedClassificationCost,  # noqa: F401
                                 BatchedFocalLossCost, BatchedIoUCost, BatchedMatchCostMixin,
                                 batched_version_of, build_batched_match_cost)
