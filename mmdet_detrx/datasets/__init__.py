from . import transforms  # noqa: F401
from .bccd import BCCDDataset
from .coco import DetrxCocoDataset
from .one_shot import DetrxOneShotEpisodeDataset
from .multi_label_space import DetrxMultiLabelSpaceDataset, label_space_of
from .unlabeled import UnlabeledImageDataset

__all__ = ['BCCDDataset', 'DetrxCocoDataset', 'DetrxOneShotEpisodeDataset', 'DetrxMultiLabelSpaceDataset',
           'UnlabeledImageDataset', 'label_space_of']
