from . import backbones, dense_heads, detectors, layers, losses, roi_heads, task_modules  # noqa: F401
