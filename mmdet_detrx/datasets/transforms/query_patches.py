"""UP-DETR's pretext data: random query patches cropped from an image become its ground truth."""
from typing import List, Optional, Sequence

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose
from mmcv.transforms.utils import cache_randomness
from mmengine.logging import MMLogger

from mmdet.datasets.transforms import PackDetInputs
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.utils import ConfigType

QUERY_PATCHES_KEY = 'query_patches'
"""Key of the patches in the pipeline results and name of the ``DetDataSample`` field that carries them."""


@TRANSFORMS.register_module()
class RandomQueryPatches(BaseTransform):
    """Crops ``num_patches`` random patches of an image; their boxes become the image's ground truth.

    Patch ``j`` is a random (w, h) rectangle at a random position inside the image, each side drawn
    uniformly from ``[min_size, max side]`` (max side = image side - ``min_size`` by default, as the
    reference implementation). Box ``j`` of ``gt_bboxes`` is patch ``j``'s box, all labelled ``label``.
    Each patch is resized to ``patch_size`` x ``patch_size`` and then goes through its own ``patch_pipeline``
    (reference: 128 x 128, SimCLR-style colour augmentation, ImageNet normalization).

    Put it after image loading and before the image's geometric transforms (e.g. ``RandomChoiceResize``, which
    then rescales the boxes), and pack with :class:`PackQueryPatchInputs`. Images with a side shorter than
    the smallest possible patch range are skipped (``None`` is returned, so the dataset draws another image;
    a warning names the image).

    Required keys: ``img`` (H, W, C). Added / replaced keys: ``gt_bboxes`` (HorizontalBoxes (M, 4), xyxy),
    ``gt_bboxes_labels`` (M,) int64, ``gt_ignore_flags`` (M,) bool, ``query_patches`` (M, S, S, C) float32
    (the patch pipeline's outputs stacked; the pipeline must keep the patch size).

    Args:
        num_patches (int): M, patches per image. Defaults to 10 (paper).
        min_size (int): smallest patch side in pixels. Defaults to 8 (reference).
        max_size (int, optional): largest patch side in pixels (capped at the image side). Defaults to None:
            image side - ``min_size`` (reference).
        patch_size (int): side of the resized patches, S. Defaults to 128 (paper).
        patch_pipeline (list[dict]): transforms applied to each resized patch as ``dict(img=patch)``
            (augmentation, normalization). Defaults to none.
        interpolation (str): interpolation of the patch resize (mmcv name). Defaults to ``'bilinear'``
            (reference).
        label (int): class label of the patch boxes. Defaults to 0 (one class, "object").
    """

    def __init__(self,
                 num_patches: int = 10,
                 min_size: int = 8,
                 max_size: Optional[int] = None,
                 patch_size: int = 128,
                 patch_pipeline: Sequence[ConfigType] = (),
                 interpolation: str = 'bilinear',
                 label: int = 0) -> None:
        if num_patches < 1:
            raise ValueError(f'num_patches must be >= 1, got {num_patches}')
        if min_size < 1:
            raise ValueError(f'min_size must be >= 1, got {min_size}')
        if max_size is not None and max_size < min_size:
            raise ValueError(f'max_size ({max_size}) must be >= min_size ({min_size})')
        if patch_size < 1:
            raise ValueError(f'patch_size must be >= 1, got {patch_size}')
        self.num_patches = num_patches
        self.min_size = min_size
        self.max_size = max_size
        self.patch_size = patch_size
        self.interpolation = interpolation
        self.label = label
        self.patch_pipeline = Compose([TRANSFORMS.build(t) if isinstance(t, dict) else t for t in patch_pipeline])

    def side_range(self, side: int) -> range:
        """Allowed patch side lengths for an image side of ``side`` pixels (empty if none fits)."""
        high = side - self.min_size if self.max_size is None else min(self.max_size, side)
        return range(self.min_size, high + 1)

    @cache_randomness
    def _sample_boxes(self, img_h: int, img_w: int) -> np.ndarray:
        """(M, 4) int xyxy boxes inside a ``img_h`` x ``img_w`` image."""
        widths, heights = self.side_range(img_w), self.side_range(img_h)
        w = np.random.randint(widths.start, widths.stop, size=self.num_patches)
        h = np.random.randint(heights.start, heights.stop, size=self.num_patches)
        x = np.random.randint(0, img_w - w + 1)
        y = np.random.randint(0, img_h - h + 1)
        return np.stack([x, y, x + w, y + h], axis=1)

    def transform(self, results: dict) -> Optional[dict]:
        img = results['img']
        img_h, img_w = img.shape[:2]
        if not self.side_range(img_w) or not self.side_range(img_h):
            MMLogger.get_current_instance().warning(
                f'skipping image {results.get("img_path", "")!r} of {img_w}x{img_h} pixels: too small for '
                f'query patches of min_size={self.min_size}, max_size={self.max_size}')
            return None
        boxes = self._sample_boxes(img_h, img_w)
        patches = [self.make_patch(img[y1:y2, x1:x2], results.get('img_path', '')) for x1, y1, x2, y2 in boxes]
        shapes = {p.shape for p in patches}
        if len(shapes) != 1:
            raise ValueError(f'patch_pipeline must keep the {self.patch_size}x{self.patch_size} patch size, '
                             f'got patches of shapes {sorted(shapes)}')
        results['gt_bboxes'] = HorizontalBoxes(boxes.astype(np.float32))
        results['gt_bboxes_labels'] = np.full(self.num_patches, self.label, dtype=np.int64)
        results['gt_ignore_flags'] = np.zeros(self.num_patches, dtype=bool)
        results[QUERY_PATCHES_KEY] = np.stack(patches).astype(np.float32)
        return results

    def make_patch(self, crop: np.ndarray, img_path: str = '') -> np.ndarray:
        """One query patch: ``crop`` resized to ``patch_size`` and passed through ``patch_pipeline``.

        Also used for the query images of one-shot episodes
        (:class:`~mmdet_detrx.datasets.one_shot.OneShotEpisodeDataset`, ``tools/one_shot_demo.py``), so
        pre-training and one-shot queries are made alike.

        Args:
            crop: The image region, (h, w, C).
            img_path: Named in the error message.

        Returns:
            np.ndarray: (patch_size, patch_size, C).

        Raises:
            ValueError: ``patch_pipeline`` dropped the patch.
        """
        size = (self.patch_size, self.patch_size)
        patch = mmcv.imresize(crop, size, interpolation=self.interpolation)
        out = self.patch_pipeline(dict(img=patch, img_shape=size, ori_shape=crop.shape[:2]))
        if out is None:
            raise ValueError(f'patch_pipeline dropped a patch of {img_path!r}; it must not '
                             f'filter patches')
        patch = out['img']
        return patch[..., None] if patch.ndim == 2 else patch

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_patches={self.num_patches}, min_size={self.min_size}, '
                f'max_size={self.max_size}, patch_size={self.patch_size}, label={self.label}, '
                f'patch_pipeline={self.patch_pipeline})')


@TRANSFORMS.register_module()
class PackQueryPatchInputs(PackDetInputs):
    """``PackDetInputs`` that also packs the query patches of :class:`RandomQueryPatches`.

    The patches become the ``query_patches`` field of the ``DetDataSample``, (M, C, S, S) float32, so the
    stock data preprocessor moves them to the model's device with the sample and the detector stacks them to
    (B, M, C, S, S). Patch ``j`` belongs to gt box ``j``; a pipeline that drops or reorders boxes after
    ``RandomQueryPatches`` breaks that pairing, so the counts are checked.

    Args:
        meta_keys (tuple[str]): as ``PackDetInputs``.
    """

    def transform(self, results: dict) -> dict:
        if QUERY_PATCHES_KEY not in results:
            raise KeyError(f'{type(self).__name__}: no {QUERY_PATCHES_KEY!r} in the results of '
                           f'{results.get("img_path", "")!r}; put RandomQueryPatches in the pipeline')
        patches = results[QUERY_PATCHES_KEY]
        if 'gt_bboxes' in results and len(results['gt_bboxes']) != len(patches):
            raise ValueError(f'{len(results["gt_bboxes"])} gt boxes but {len(patches)} query patches for '
                             f'{results.get("img_path", "")!r}: a transform after RandomQueryPatches dropped boxes')
        packed = super().transform(results)
        packed['data_samples'].set_field(
            torch.from_numpy(np.ascontiguousarray(patches.transpose(0, 3, 1, 2))), QUERY_PATCHES_KEY)
        return packed


# the metainfo keys of a one-shot episode (OneShotEpisodeDataset sets them, PackOneShotInputs packs them)
EPISODE_META_KEYS = ('episode_id', 'episode_class', 'episode_class_id', 'query_img_path', 'query_bbox')


@TRANSFORMS.register_module()
class PackOneShotInputs(PackQueryPatchInputs):
    """:class:`PackQueryPatchInputs` for one-shot episodes: one query patch for any number of gt boxes.

    The patches become the ``query_patches`` field ((P, C, S, S) float32) of the ``DetDataSample`` exactly as
    in pre-training; unlike pre-training, gt box ``j`` is not the box of patch ``j`` (an episode has one query
    and all boxes of its class as gt), so the box / patch count check is not done. The episode keys
    (``EPISODE_META_KEYS``) are added to ``meta_keys``.

    Args:
        meta_keys (tuple[str]): as ``PackDetInputs``; the episode keys are appended.
    """

    def __init__(self, meta_keys: Sequence[str] = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                                                   'flip', 'flip_direction')) -> None:
        super().__init__(meta_keys=tuple(meta_keys) + tuple(k for k in EPISODE_META_KEYS if k not in meta_keys))

    def transform(self, results: dict) -> dict:
        if QUERY_PATCHES_KEY not in results:
            raise KeyError(f'{type(self).__name__}: no {QUERY_PATCHES_KEY!r} in the results of '
                           f'{results.get("img_path", "")!r}; use it with OneShotEpisodeDataset')
        patches = results[QUERY_PATCHES_KEY]
        packed = PackDetInputs.transform(self, results)
        packed['data_samples'].set_field(
            torch.from_numpy(np.ascontiguousarray(patches.transpose(0, 3, 1, 2))), QUERY_PATCHES_KEY)
        return packed


__all__: List[str] = ['RandomQueryPatches', 'PackQueryPatchInputs', 'PackOneShotInputs', 'QUERY_PATCHES_KEY',
                      'EPISODE_META_KEYS']
