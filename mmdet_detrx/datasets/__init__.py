from . import transforms  # noqa: F401
from .bccd import BCCDDataset
from .coco import DetrxCocoDataset
from .unlabeled import UnlabeledImageDataset

__all__ = ['BCCDDataset', 'DetrxCocoDataset', 'UnlabeledImageDataset']
