"""One-shot detection episodes (UP-DETR, Dai et al., CVPR 2021, section 4.3) from any mmdet detection dataset.

An episode is a target image and ONE query patch of a class ``c`` that occurs in the target; its ground truth
is every box of class ``c`` in the target, labelled 0 ("matches the query"). The detector (e.g.
:class:`~mmdet_detrx.models.detectors.UPCondDETR` with ``num_patches=1``) has to find the instances of whatever
the query shows. Classes are split by name into seen (training) and unseen (evaluation) classes.
"""
import bisect
import copy
import difflib
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmengine import fileio
from mmengine.dataset import BaseDataset
from mmengine.logging import MMLogger

from mmdet.registry import DATASETS
from mmdet.structures import DetDataSample
from mmdet.utils import ConfigType
from .transforms.query_patches import EPISODE_META_KEYS, QUERY_PATCHES_KEY, RandomQueryPatches

VOC_UNSEEN_CLASSES = ('cow', 'sheep', 'cat', 'aeroplane')
"""The unseen classes of the one-shot VOC split of the paper (following CoAE); the other 16 are seen."""

SPLITS: Dict[str, Tuple[str, ...]] = dict(voc=VOC_UNSEEN_CLASSES)

DEFAULT_PATCH_PIPELINE = (
    # the statistics of the data preprocessor: the patch goes through the same backbone as the image
    dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True), )

"""Keys the dataset adds to the metainfo of every packed ``DetDataSample``."""


def check_class_names(names: Sequence[str], known: Sequence[str], what: str = 'unseen_classes') -> None:
    """Raises ``ValueError`` for names not in ``known``, listing the closest known names."""
    problems = []
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(str(name), list(known), n=3, cutoff=0.6)
            hint = f' (did you mean {", ".join(map(repr, close))}?)' if close else ''
            problems.append(f'{name!r}{hint}')
    if problems:
        listing = list(known) if len(known) <= 30 else f'{list(known)[:30]} ... ({len(known)} classes)'
        raise ValueError(f'{what}: unknown class name(s) {"; ".join(problems)}; the dataset classes are {listing}')


@DATASETS.register_module()
class OneShotEpisodeDataset:
    """Turns a detection dataset into one-shot detection episodes.

    Episodes enumerate the (image, class) pairs of the wrapped dataset: one per image and active class that has
    at least one (not ignored) box in the image. Episode ``(i, c)``:

    * target: image ``i`` through the wrapped dataset's pipeline, whose ground truth is **all** boxes of class
      ``c`` in image ``i`` (their ignore flags kept, e.g. VOC ``difficult``), label 0. Boxes of other classes
      (in particular unseen ones in seen mode) are removed;
    * query: one box of class ``c`` (not ignored, both sides >= ``min_query_size`` px in the original image)
      cropped from a **different** image, resized to ``patch_size`` and passed through ``patch_pipeline``
      (normalisation as the UP-DETR query patches). If class ``c`` has no such box in another image, a box of
      image ``i`` itself is used (one of its usable boxes other than the first when there are several; with a
      single one the query is a crop of a target box, a degenerate episode). Random at training time, drawn with
      ``RandomState(seed + index)`` at test time (the same episode always has the same query).

    The patch is stored in the results under ``query_patches`` ((1, S, S, C) float32), the format of
    :class:`~mmdet_detrx.datasets.transforms.RandomQueryPatches`; end the pipeline with
    :class:`PackOneShotInputs` (``PackQueryPatchInputs`` without its one-box-per-patch check), which puts it
    on the ``DetDataSample`` as ``query_patches`` (1, C, S, S) for ``UPCondDETR`` / ``UPDETR`` with
    ``num_patches=1``. A ``ConcatDataset`` (VOC07+12) is wrapped as is: each image uses its part's pipeline. The
    packed ``DetDataSample`` metainfo gets ``episode_id``, ``episode_class``
    (name), ``episode_class_id`` (index in the wrapped dataset's classes), ``query_img_path`` and
    ``query_bbox`` (xyxy in the query image).

    Classes with instances but none large enough for a query are skipped with a warning in seen / all mode
    (an error for a named unseen class); a named unseen class without any instance is an error.

    Args:
        dataset (dict | BaseDataset): the wrapped detection dataset (e.g. ``DetrxCocoDataset``,
            ``BCCDDataset``, ``VOCDataset``); its pipeline is the episode pipeline.
        classes (str): ``'seen'``, ``'unseen'`` or ``'all'`` (every class, no split). Defaults to ``'all'``.
        unseen_classes (list[str], optional): names of the unseen classes.
        split (str, optional): a named split instead of ``unseen_classes``: ``'voc'`` (unseen: cow, sheep,
            cat, aeroplane; seen: the other 16 VOC classes).
        exclude_images_with_unseen (bool): in seen mode, also drop every image containing an unseen box (the
            boxes are always removed from the targets). Defaults to False.
        patch_size (int): side of the query patch, S. Defaults to 128 (paper).
        patch_pipeline (list[dict]): transforms of the resized patch (``dict(img=patch)``). Defaults to the
            ImageNet normalisation of the data preprocessor (BGR -> RGB).
        min_query_size (int): smallest side in pixels of a box used as a query. Defaults to 16.
        test_mode (bool, optional): deterministic queries. Defaults to the wrapped dataset's ``test_mode``.
        seed (int): base seed of the test-time queries. Defaults to 0.
        lazy_init (bool): build the episodes on first use. Defaults to False.
    """

    def __init__(self,
                 dataset: Union[ConfigType, BaseDataset],
                 classes: str = 'all',
                 unseen_classes: Optional[Sequence[str]] = None,
                 split: Optional[str] = None,
                 exclude_images_with_unseen: bool = False,
                 patch_size: int = 128,
                 patch_pipeline: Sequence[ConfigType] = DEFAULT_PATCH_PIPELINE,
                 min_query_size: int = 16,
                 test_mode: Optional[bool] = None,
                 seed: int = 0,
                 lazy_init: bool = False) -> None:
        if classes not in ('seen', 'unseen', 'all'):
            raise ValueError(f"classes must be 'seen', 'unseen' or 'all', got {classes!r}")
        if split is not None and split not in SPLITS:
            raise ValueError(f'unknown split {split!r}; known splits: {sorted(SPLITS)}')
        if split is not None and unseen_classes is not None:
            raise ValueError(f'give either split ({split!r}) or unseen_classes, not both')
        if classes != 'all' and split is None and not unseen_classes:
            raise ValueError(f"classes={classes!r} needs the unseen classes: set unseen_classes=[names] or "
                             f"split='voc'")
        if min_query_size < 1:
            raise ValueError(f'min_query_size must be >= 1, got {min_query_size}')
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.mode = classes
        self.split = split
        self.unseen_names = tuple(SPLITS[split] if split is not None else (unseen_classes or ()))
        self.exclude_images_with_unseen = exclude_images_with_unseen
        self.patch_size = patch_size
        self.min_query_size = min_query_size
        self.test_mode = bool(getattr(self.dataset, 'test_mode', False)) if test_mode is None else test_mode
        self.seed = seed
        # RandomQueryPatches' resize + patch pipeline, for one patch
        self._patcher = RandomQueryPatches(num_patches=1, patch_size=patch_size, patch_pipeline=patch_pipeline)
        self.episodes: List[Tuple[int, int]] = []
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    # ------------------------------------------------------------------------------------------ metainfo / init
    @property
    def source_classes(self) -> Tuple[str, ...]:
        """Class names of the wrapped dataset."""
        return tuple(self.dataset.metainfo['classes'])

    @property
    def metainfo(self) -> dict:
        """One class (``'object'``: matches the query), plus ``episode_classes`` (the active class names),
        ``source_classes``, ``unseen_classes`` and ``mode``."""
        names = self.source_classes
        active = self.active_class_ids if self._fully_initialized else self.requested_class_ids()
        return dict(classes=('object', ), palette=[(220, 20, 60)], episode_classes=tuple(names[c] for c in active),
                    source_classes=self.source_classes, unseen_classes=self.unseen_names, mode=self.mode)

    def requested_class_ids(self) -> Tuple[int, ...]:
        """Indices of the classes of the mode (before dropping classes without usable query boxes)."""
        names = self.source_classes
        check_class_names(self.unseen_names, names, 'split' if self.split else 'unseen_classes')
        unseen = {names.index(n) for n in self.unseen_names}
        if self.mode == 'all':
            return tuple(range(len(names)))
        if self.mode == 'unseen':
            return tuple(sorted(unseen))
        return tuple(c for c in range(len(names)) if c not in unseen)

    def full_init(self) -> None:
        """Builds the class split, the query index and the episode list."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        names = self.source_classes
        active = set(self.requested_class_ids())
        unseen = {names.index(n) for n in self.unseen_names}
        # queries[c]: (image index, box) of every box of class c usable as a query
        self.queries: Dict[int, List[Tuple[int, np.ndarray]]] = {c: [] for c in range(len(names))}
        present: Dict[int, int] = {c: 0 for c in range(len(names))}
        image_classes: List[set] = []
        for i in range(len(self.dataset)):
            info = self.dataset.get_data_info(i)
            classes_here = set()
            for inst in info.get('instances', []):
                if inst.get('ignore_flag', 0):
                    continue
                label = int(inst['bbox_label'])
                classes_here.add(label)
                present[label] += 1
                box = np.asarray(inst['bbox'], dtype=np.float32)
                if min(box[2] - box[0], box[3] - box[1]) >= self.min_query_size:
                    self.queries[label].append((i, box))
            image_classes.append(classes_here)
        absent, tiny = [], []
        for c in sorted(active):
            if self.queries[c]:
                continue
            (tiny if present[c] else absent).append(names[c])
            if self.mode == 'unseen':
                reason = ('it has no instance in the dataset' if not present[c] else
                          f'its {present[c]} instance(s) are all smaller than min_query_size={self.min_query_size} px')
                raise ValueError(f'unseen class {names[c]!r} cannot make episodes: {reason}')
            active.discard(c)
        if absent or tiny:
            MMLogger.get_current_instance().warning(
                f'{type(self).__name__}: no episodes for the classes without instances {absent} and those whose '
                f'instances are all smaller than min_query_size={self.min_query_size} px {tiny}')
        self.active_class_ids = tuple(sorted(active))
        self.episodes = []
        for i, classes_here in enumerate(image_classes):
            if self.mode == 'seen' and self.exclude_images_with_unseen and classes_here & unseen:
                continue
            self.episodes.extend((i, c) for c in sorted(classes_here & active))
        if not self.episodes:
            raise ValueError(f'{type(self).__name__}: no episode: no image of the wrapped dataset '
                             f'({len(self.dataset)} images) has a box of the {self.mode} classes '
                             f'{[names[c] for c in self.active_class_ids]}')
        self._fully_initialized = True

    def __len__(self) -> int:
        self.full_init()
        return len(self.episodes)

    # ---------------------------------------------------------------------------------------------- episodes
    def _rng(self, idx: int):
        return np.random.RandomState(self.seed + idx) if self.test_mode else np.random

    def choose_query(self, idx: int) -> Tuple[int, np.ndarray]:
        """(image index, xyxy box) of the query of episode ``idx`` (see the class docstring)."""
        img_idx, cls = self.episodes[idx]
        candidates = self.queries[cls]
        others = [q for q in candidates if q[0] != img_idx]
        if not others:  # only this image has usable boxes of the class
            others = candidates
            if len(others) > 1:  # prefer another instance than the first one
                others = others[1:]
        return others[self._rng(idx).randint(len(others))]

    def get_data_info(self, idx: int) -> dict:
        """The wrapped dataset's info of the episode's target image with only the class-c boxes (label 0), the
        episode keys and ``query_img_path`` / ``query_bbox``."""
        self.full_init()
        if not 0 <= idx < len(self.episodes):
            raise IndexError(f'episode index {idx} out of range for {len(self.episodes)} episodes')
        img_idx, cls = self.episodes[idx]
        info = copy.deepcopy(self.dataset.get_data_info(img_idx))
        instances = []
        for inst in info.get('instances', []):
            if int(inst['bbox_label']) == cls:
                inst = dict(inst, bbox_label=0)
                instances.append(inst)
        info['instances'] = instances
        query_img_idx, query_box = self.choose_query(idx)
        info.update(episode_id=idx, episode_class=self.source_classes[cls], episode_class_id=cls,
                    query_img_path=self.dataset.get_data_info(query_img_idx)['img_path'],
                    query_bbox=[float(v) for v in query_box])
        return info

    def load_query_patch(self, img_path: str, bbox: Sequence[float]) -> np.ndarray:
        """Crops ``bbox`` (xyxy, pixels) from ``img_path`` -> (1, S, S, C) float32 patch."""
        backend_args = getattr(self.dataset, 'backend_args', None)
        try:
            img = mmcv.imfrombytes(fileio.get(img_path, backend_args=backend_args), flag='color')
        except Exception as err:  # noqa: BLE001 - re-raised with the path
            raise OSError(f'cannot read query image {img_path!r}: {err}') from err
        if img is None:
            raise OSError(f'cannot decode query image {img_path!r}')
        h, w = img.shape[:2]
        x1, y1 = int(np.clip(np.floor(bbox[0]), 0, w - 1)), int(np.clip(np.floor(bbox[1]), 0, h - 1))
        x2, y2 = int(np.clip(np.ceil(bbox[2]), x1 + 1, w)), int(np.clip(np.ceil(bbox[3]), y1 + 1, h))
        patch = self._patcher.make_patch(img[y1:y2, x1:x2], img_path)
        return patch[None].astype(np.float32)

    def pipeline_of(self, img_idx: int):
        """The pipeline of image ``img_idx`` of the wrapped dataset (that of its part for a ``ConcatDataset``)."""
        dataset = self.dataset
        if not hasattr(dataset, 'pipeline') and hasattr(dataset, 'cumulative_sizes'):  # a ConcatDataset
            dataset = dataset.datasets[bisect.bisect_right(dataset.cumulative_sizes, img_idx)]
        if not hasattr(dataset, 'pipeline'):
            raise TypeError(f'{type(self).__name__}: the wrapped {type(self.dataset).__name__} has no pipeline')
        return dataset.pipeline

    def __getitem__(self, idx: int) -> dict:
        info = self.get_data_info(idx)
        info[QUERY_PATCHES_KEY] = self.load_query_patch(info['query_img_path'], info['query_bbox'])
        out = self.pipeline_of(self.episodes[idx][0])(info)
        if out is None:
            raise ValueError(f'the pipeline dropped episode {idx} (image {info.get("img_path")!r}); one-shot '
                             f'pipelines must not filter images')
        sample = out.get('data_samples') if isinstance(out, dict) else None
        if isinstance(sample, DetDataSample):
            sample.set_metainfo({k: info[k] for k in EPISODE_META_KEYS})
        return out

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(mode={self.mode!r}, unseen={list(self.unseen_names)}, '
                f'episodes={len(self.episodes)}, test_mode={self.test_mode}, patch_size={self.patch_size}, '
                f'dataset={type(self.dataset).__name__})')


__all__ = ['OneShotEpisodeDataset', 'VOC_UNSEEN_CLASSES', 'check_class_names']
