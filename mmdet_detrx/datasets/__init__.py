from . import transforms  # noqa: F401
from .bccd import BCCDDataset
from .coco import DetrxCocoDataset

__all__ = ['BCCDDataset', 'DetrxCocoDataset']
