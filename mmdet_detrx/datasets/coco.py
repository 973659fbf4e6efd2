"""COCO dataset with input checks that name the failing file."""
import os.path as osp
from typing import List

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .checks import load_coco_json, require_dir


@DATASETS.register_module()
class DetrxCocoDataset(CocoDataset):
    """mmdet's :class:`CocoDataset` that checks its inputs before loading.

    Same behaviour and metainfo as ``CocoDataset``; additionally a missing data root or image folder, a missing,
    empty or malformed annotation file, an annotation file with no image, and class names in ``metainfo`` that
    the annotation file does not define are reported with the path or name. The file is parsed once.
    """

    def load_data_list(self) -> List[dict]:
        data_root = self.data_root or ''
        if data_root:
            require_dir(data_root, 'data root')
        data = load_coco_json(self.ann_file)
        img_dir = self.data_prefix.get('img', '')
        if img_dir:
            require_dir(img_dir, 'image folder')
        known = {c['name'] for c in data['categories']}
        unknown = [c for c in self.metainfo['classes'] if c not in known]
        if unknown:
            raise ValueError(f'class name(s) {unknown} of the config are not categories of '
                             f'{osp.basename(self.ann_file)!r} (it has {len(known)} categories)')
        # Hand mmdet the dict parsed above instead of letting pycocotools read the file again.
        preloaded = self.COCOAPI()
        preloaded.dataset = data
        preloaded.createIndex()
        preloaded.img_ann_map, preloaded.cat_img_map = preloaded.imgToAnns, preloaded.catToImgs
        self.COCOAPI = lambda _path: preloaded
        try:
            return super().load_data_list()
        finally:
            del self.COCOAPI  # back to the class attribute
