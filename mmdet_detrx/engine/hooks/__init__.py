"""Hooks, registered in mmdet.registry.HOOKS on import."""
