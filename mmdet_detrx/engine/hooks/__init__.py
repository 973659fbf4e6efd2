"""Hooks, registered in mmdet.registry.HOOKS on import."""
from .freeze_modules import FreezeModulesHook  # noqa: F401
