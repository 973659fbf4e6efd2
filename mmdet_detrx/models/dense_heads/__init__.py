"""Registered in mmdet.registry.MODELS on import."""
from .conditional_detr_head import CondDETRHead  # noqa: F401
from .co_aux_heads import DetrxCoATSSHead, DetrxCoFCOSHead  # noqa: F401
from .co_dino_head import (DetrxCoDABDETRHead, DetrxCoDeformableDETRHead, DetrxCoDETRHead,  # noqa: F401
                           DetrxCoDINOHead)
from .up_detr_head import UPCondDETRHead, UPDABDETRHead, UPDeformableDETRHead, UPDETRHead, UPDINOHead  # noqa: F401
from .metr_head import METRHead  # noqa: F401
