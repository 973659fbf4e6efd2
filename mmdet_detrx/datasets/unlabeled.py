"""Images without labels (e.g. for UP-DETR pre-training): image folders or a COCO json's image list."""
import json
import os
import os.path as osp
from typing import List, Sequence

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS

from .checks import require_dir, require_file

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff', '.ppm', '.pgm')


def scan_images(folder: str, extensions: Sequence[str] = IMG_EXTENSIONS) -> List[str]:
    """Image files under ``folder`` (recursive, following links), sorted.

    Args:
        folder (str): an existing folder.
        extensions (Sequence[str]): file name endings, matched case-insensitively.

    Returns:
        list[str]: paths (``folder`` joined with the relative path).
    """
    extensions = tuple(e.lower() for e in extensions)
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        found.extend(osp.join(root, f) for f in sorted(files) if f.lower().endswith(extensions))
    return found


@DATASETS.register_module()
class UnlabeledImageDataset(BaseDetDataset):
    """Images without annotations, one class ``'object'`` in the metainfo (for self-supervised pre-training
    such as UP-DETR, whose pipeline creates the targets).

    Two sources:

    * **folders** (``ann_file=''``): every image file under ``img_dirs`` (recursive, following links; file name
      endings ``extensions``, case-insensitive; sorted). By default the one folder ``data_prefix['img']``
      (joined with ``data_root`` as in every mmengine dataset); ``img_dirs`` lists several folders, each
      relative to ``data_root`` unless absolute (e.g. an ImageNet train folder: class folders are fine).
    * **a COCO json** (``ann_file``): its ``images`` list (``file_name`` under ``data_prefix['img']``, with
      ``id``/``width``/``height`` when present); annotations and categories are ignored.

    A missing folder or file, an empty or malformed json and a source without any image are errors that
    name the path. Unreadable or corrupt image files are handled by the loading transform: use
    ``DetrxLoadImageFromFile`` with ``on_error='skip'`` (warn with the path, draw another image) or
    ``'raise'``.

    Each data info has ``img_path``, ``img_id``, ``instances=[]`` (and ``width``/``height`` from a json).

    Args:
        img_dirs (Sequence[str]): image folders for the folder source. Defaults to ``()``: ``data_prefix['img']``.
        extensions (Sequence[str]): image file endings for the folder source. Defaults to ``IMG_EXTENSIONS``.
        **kwargs: as :class:`mmdet.datasets.BaseDetDataset` (``data_root``, ``ann_file``, ``data_prefix``,
            ``pipeline``, ``indices``, ``test_mode``, ...).
    """

    METAINFO = {'classes': ('object', ), 'palette': [(220, 20, 60)]}

    def __init__(self, *args, img_dirs: Sequence[str] = (), extensions: Sequence[str] = IMG_EXTENSIONS,
                 **kwargs) -> None:
        if isinstance(img_dirs, str):
            img_dirs = (img_dirs, )
        if not extensions:
            raise ValueError('extensions must list at least one image file ending')
        self.img_dirs = tuple(img_dirs)
        self.extensions = tuple(extensions)
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        if self.data_root:
            require_dir(self.data_root, 'data root')
        if self.ann_file:
            if self.img_dirs:
                raise ValueError(f'{type(self).__name__}: give either ann_file ({self.ann_file!r}) or img_dirs '
                                 f'({list(self.img_dirs)}), not both')
            return self._load_json_images()
        return self._load_folder_images()

    def _img_prefix(self) -> str:
        """``data_prefix['img']`` (mmdet's key) or ``data_prefix['img_path']`` (mmengine's default key)."""
        return self.data_prefix.get('img', '') or self.data_prefix.get('img_path', '')

    def _folders(self) -> List[str]:
        if not self.img_dirs:
            folder = self._img_prefix() or self.data_root
            if not folder:
                raise ValueError(f'{type(self).__name__} needs an image folder: set data_prefix=dict(img=...), '
                                 f'img_dirs, data_root or ann_file')
            return [folder]
        root = self.data_root or ''
        return [d if osp.isabs(d) else osp.join(root, d) for d in self.img_dirs]

    def _load_folder_images(self) -> List[dict]:
        folders = self._folders()
        paths = []
        for folder in folders:
            require_dir(folder, 'image folder')
            paths.extend(scan_images(folder, self.extensions))
        if not paths:
            raise ValueError(f'no image files (endings {list(self.extensions)}) found under {folders}')
        return [dict(img_path=p, img_id=i, instances=[]) for i, p in enumerate(paths)]

    def _load_json_images(self) -> List[dict]:
        require_file(self.ann_file, 'image list (COCO json)')
        try:
            with open(self.ann_file) as f:
                data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'image list is not valid JSON: {self.ann_file!r} ({err})') from err
        images = data.get('images') if isinstance(data, dict) else None
        if not images:
            raise ValueError(f'{self.ann_file!r} has no COCO `images` list (or it is empty)')
        img_dir = self._img_prefix()
        if img_dir:
            require_dir(img_dir, 'image folder')
        data_list = []
        for i, info in enumerate(images):
            if not isinstance(info, dict) or 'file_name' not in info:
                raise ValueError(f'{self.ann_file!r}: images[{i}] has no file_name')
            item = dict(img_path=osp.join(img_dir, info['file_name']), img_id=info.get('id', i), instances=[])
            if 'width' in info and 'height' in info:
                item.update(width=info['width'], height=info['height'])
            data_list.append(item)
        return data_list
