"""Several detection datasets side by side, each keeping its own label space (no merging of class lists).

Used to train one detector on datasets whose class lists differ (METR-style multi-dataset training): every
item is tagged with the name of its dataset's label space and its gt labels stay the dataset's own (local)
class ids. A model that classifies against per-space class embeddings reads the tag with
:func:`label_space_of`.
"""
import bisect
import contextlib
import copy
import logging
from typing import Any, Dict, Iterator, List, Sequence, Tuple, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmdet.registry import DATASETS

LABEL_SPACE_KEY = 'label_space'


def label_space_of(data_sample: Any) -> str:
    """The name of the label space a data sample belongs to.

    Args:
        data_sample (DetDataSample | dict): a packed sample of :class:`MultiLabelSpaceDataset` (its
            metainfo holds ``label_space``) or such a sample converted with ``to_dict()``.

    Returns:
        str: the label-space name, e.g. ``'coco128'``.

    Raises:
        KeyError: the sample carries no ``label_space`` (it does not come from the wrapper).
    """
    meta = data_sample if isinstance(data_sample, dict) else getattr(data_sample, 'metainfo', {})
    if LABEL_SPACE_KEY not in meta:
        img = meta.get('img_path', meta.get('img_id', '?'))
        raise KeyError(f"data sample (image {img!r}) has no '{LABEL_SPACE_KEY}' in its metainfo: wrap the "
                       f'dataset in MultiLabelSpaceDataset so that each sample is tagged with its label space')
    return meta[LABEL_SPACE_KEY]


@contextlib.contextmanager
def _naming_errors(what: str) -> Iterator[None]:
    """Makes an error raised while building/loading a dataset name it (``what``); explains an empty one."""
    try:
        yield
    except Exception as err:
        # mmengine serializes the data list with np.concatenate, which fails on an empty list
        if isinstance(err, ValueError) and 'need at least one array to concatenate' in str(err):
            raise ValueError(f'{what} is empty (after filtering): nothing to train or evaluate on') from err
        err.add_note(f'(while loading {what})')
        raise


@DATASETS.register_module()
class MultiLabelSpaceDataset:
    """Concatenation of detection datasets that keeps one label space per dataset.

    Item ``idx`` is the item of dataset ``k`` at local index ``idx - offset[k]``, produced by that dataset's own
    pipeline; its packed ``DetDataSample`` additionally carries ``metainfo['label_space'] = label_spaces[k]``.
    gt labels are the local class ids of that label space. The same class name may appear in two label
    spaces (e.g. a shared ``'person'``): the spaces are not merged.

    ``metainfo`` holds ``label_spaces`` (name -> tuple of classes), ``dataset_metas`` (name -> metainfo of
    the dataset, read by :class:`MultiLabelSpaceMetric`) and ``classes``, the ``'name:class'`` strings of
    all spaces in order. ``classes`` is for display only: labels are local, so e.g. a visualizer indexing it
    with a label names the class correctly only for the first label space.

    Args:
        datasets (Sequence[dict | BaseDataset]): dataset configs or built datasets, each with non-empty,
            duplicate-free ``metainfo['classes']``.
        label_spaces (Sequence[str]): one unique name per dataset.
        lazy_init (bool): if True, the datasets' annotations are loaded on first use (``full_init``).
    """

    def __init__(self,
                 datasets: Sequence[Union[dict, BaseDataset]],
                 label_spaces: Sequence[str],
                 lazy_init: bool = False) -> None:
        if isinstance(label_spaces, str) or not isinstance(label_spaces, Sequence):
            raise TypeError(f'label_spaces must be a list of names, got {label_spaces!r}')
        if not isinstance(datasets, Sequence) or not datasets:
            raise ValueError(f'datasets must be a non-empty list of dataset configs or datasets, got {datasets!r}')
        if len(label_spaces) != len(datasets):
            raise ValueError(f'got {len(label_spaces)} label-space name(s) {list(label_spaces)} for '
                             f'{len(datasets)} dataset(s): give exactly one name per dataset')
        for name in label_spaces:
            if not isinstance(name, str) or not name:
                raise ValueError(f'label-space names must be non-empty strings, got {name!r}')
        dupes = sorted({n for n in label_spaces if list(label_spaces).count(n) > 1})
        if dupes:
            raise ValueError(f'duplicate label-space name(s) {dupes} in {list(label_spaces)}: each dataset '
                             f'needs its own name')
        self.label_spaces: List[str] = list(label_spaces)
        self.datasets: List[BaseDataset] = [self._build(d, n) for d, n in zip(datasets, self.label_spaces)]
        self._metainfo = self._make_metainfo()
        self.cumulative_sizes: List[int] = []
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @staticmethod
    def _build(dataset: Union[dict, BaseDataset], name: str) -> BaseDataset:
        if isinstance(dataset, dict):
            with _naming_errors(f"dataset {dataset.get('type', '?')} of label space {name!r}"):
                return DATASETS.build(dataset)
        if hasattr(dataset, 'metainfo') and hasattr(dataset, '__getitem__'):
            return dataset
        raise TypeError(f'dataset of label space {name!r} must be a config dict or a dataset, '
                        f'got {type(dataset).__name__}')

    def _make_metainfo(self) -> dict:
        spaces: Dict[str, Tuple[str, ...]] = {}
        for name, dataset in zip(self.label_spaces, self.datasets):
            classes = dataset.metainfo.get('classes')
            if not classes:
                raise ValueError(f'dataset {type(dataset).__name__} of label space {name!r} has no classes '
                                 f"(metainfo['classes'] is {classes!r})")
            classes = tuple(classes)
            dupes = sorted({c for c in classes if classes.count(c) > 1})
            if dupes:
                raise ValueError(f'label space {name!r} ({type(dataset).__name__}) lists the class name(s) '
                                 f'{dupes} more than once')
            spaces[name] = classes
        return dict(
            label_spaces=spaces,
            dataset_metas={n: d.metainfo for n, d in zip(self.label_spaces, self.datasets)},
            classes=tuple(f'{n}:{c}' for n, cs in spaces.items() for c in cs))

    @property
    def metainfo(self) -> dict:
        """``label_spaces``, ``dataset_metas`` and display-only ``classes`` (a copy)."""
        return copy.deepcopy(self._metainfo)

    def full_init(self) -> None:
        """Loads every dataset's annotations; raises if one of them is empty."""
        if self._fully_initialized:
            return
        sizes = []
        for name, dataset in zip(self.label_spaces, self.datasets):
            what = f'dataset {type(dataset).__name__} of label space {name!r}'
            if hasattr(dataset, 'full_init'):
                with _naming_errors(what):
                    dataset.full_init()
            if len(dataset) == 0:
                raise ValueError(f'{what} is empty (after filtering): nothing to train or evaluate on')
            sizes.append(len(dataset))
        self.cumulative_sizes = [sum(sizes[:k + 1]) for k in range(len(sizes))]
        self._fully_initialized = True

    def _ensure_init(self) -> None:
        if not self._fully_initialized:
            print_log('MultiLabelSpaceDataset: call full_init() first to load the annotations up front',
                      logger='current', level=logging.WARNING)
            self.full_init()

    def __len__(self) -> int:
        self._ensure_init()
        return self.cumulative_sizes[-1]

    def locate(self, idx: int) -> Tuple[int, int]:
        """Maps a global index to ``(dataset index, local index)``; negative indices count from the end."""
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f'index {idx} out of range for MultiLabelSpaceDataset of length {n}')
        idx = idx % n
        k = bisect.bisect_right(self.cumulative_sizes, idx)
        return k, idx - (self.cumulative_sizes[k - 1] if k else 0)

    def get_data_info(self, idx: int) -> dict:
        """The dataset's own annotation dict of item ``idx`` plus ``label_space``."""
        k, local = self.locate(idx)
        info = self.datasets[k].get_data_info(local)
        info[LABEL_SPACE_KEY] = self.label_spaces[k]
        return info

    def __getitem__(self, idx: int) -> dict:
        """Item ``idx`` from its dataset's pipeline, its ``data_samples`` tagged with the label space."""
        k, local = self.locate(idx)
        item = self.datasets[k][local]
        samples = item.get('data_samples') if isinstance(item, dict) else None
        if samples is None or not hasattr(samples, 'set_metainfo'):
            raise TypeError(f'pipeline of label space {self.label_spaces[k]!r} must end with PackDetInputs '
                            f"(an item with a 'data_samples' DetDataSample), got {type(item).__name__}")
        samples.set_metainfo({LABEL_SPACE_KEY: self.label_spaces[k]})
        return item

    def __repr__(self) -> str:
        parts = ', '.join(f'{n}: {type(d).__name__}' for n, d in zip(self.label_spaces, self.datasets))
        size = len(self) if self._fully_initialized else 'not loaded'
        return f'MultiLabelSpaceDataset({parts}; {size} items)'
