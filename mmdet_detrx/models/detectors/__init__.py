"""Registered in mmdet.registry.MODELS on import."""
from .conditional_detr import CondDETR  # noqa: F401
from .modular_detr import ModularDETR  # noqa: F401
from .co_detr import DetrxCoDETR  # noqa: F401
from .up_detr import UPCondDETR, UPDABDETR, UPDETR, UPDeformableDETR, UPDINO  # noqa: F401
from .metr import METR  # noqa: F401
