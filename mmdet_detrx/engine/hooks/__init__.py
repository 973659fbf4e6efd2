"""Hooks, registered in mmdet.registry.HOOKS on import."""
from .cpu_deformable_attn import CPUDeformableAttentionHook  # noqa: F401
from .freeze_modules import FreezeModulesHook  # noqa: F401
