"""COCO dataset with input checks that name the failing file."""
import logging
import os.path as osp
from typing import List

from mmengine.logging import print_log

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .checks import coco_annotation_problems, describe_problems, load_coco_json, require_dir


@DATASETS.register_module()
class DetrxCocoDataset(CocoDataset):
    """mmdet's :class:`CocoDataset` that checks its inputs before loading.

    Same behaviour and metainfo as ``CocoDataset``; additionally a missing data root or image folder, a missing,
    empty or malformed annotation file, an annotation file with no image, and class names in ``metainfo`` that
    the annotation file does not define are reported with the path or name. The file is parsed once.

    Annotations that ``CocoDataset`` drops silently (unknown ``category_id`` or ``image_id``, width or height < 1,
    area <= 0, a box outside its image) are reported once, with counts per reason and examples: a warning, or an
    error with ``strict_annotations=True``. A training set left without any image by ``filter_empty_gt`` is an
    error naming the annotation file.

    Args:
        strict_annotations (bool): raise instead of warning about dropped annotations. Default False.
        **kwargs: as :class:`mmdet.datasets.CocoDataset`.
    """

    def __init__(self, *args, strict_annotations: bool = False, **kwargs) -> None:
        self.strict_annotations = strict_annotations
        super().__init__(*args, **kwargs)

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
        problems = coco_annotation_problems(data)
        if problems:
            message = describe_problems(self.ann_file, problems)
            if self.strict_annotations:
                raise ValueError(message + ' (strict_annotations=True)')
            print_log(message, logger='current', level=logging.WARNING)
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

    def filter_data(self) -> List[dict]:
        kept = super().filter_data()
        if not kept and not self.test_mode:
            raise ValueError(
                f'{self.ann_file!r}: no training image left after filter_cfg={self.filter_cfg} '
                f'({len(self.data_list)} images, {sum(len(d["instances"]) for d in self.data_list)} usable boxes of '
                f'the classes {list(self.metainfo["classes"])[:5]}'
                f'{"..." if len(self.metainfo["classes"]) > 5 else ""})')
        return kept
