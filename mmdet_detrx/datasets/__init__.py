from . import transforms  # noqa: F401
from .bccd import BCCDDataset
from .coco import DetrxCocoDataset
from .one_shot import OneShotEpisodeDataset
from .multi_label_space import MultiLabelSpaceDataset, label_space_of
from .unlabeled import UnlabeledImageDataset

__all__ = ['BCCDDataset', 'DetrxCocoDataset', 'OneShotEpisodeDataset', 'MultiLabelSpaceDataset',
           'UnlabeledImageDataset', 'label_space_of']
