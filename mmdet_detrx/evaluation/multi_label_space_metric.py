"""Evaluation of a :class:`MultiLabelSpaceDataset`: one metric per label space, in its own label space."""
import copy
from typing import Any, Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric, Evaluator
from mmdet.registry import EVALUATOR, METRICS

from ..datasets.multi_label_space import label_space_of


@METRICS.register_module()
class MultiLabelSpaceMetric(BaseMetric):
    """Routes each sample to the metric of its label space and reports every metric under the space's name.

    Samples come from :class:`MultiLabelSpaceDataset`: each carries ``label_space`` in its metainfo and
    its predictions and gt use the local class ids of that space. Each child metric sees only its space's
    samples and, as ``dataset_meta``, its own dataset's metainfo (taken from the wrapper's ``dataset_metas``).

    Multi-process evaluation is exact: ``process`` lets the child turn a sample into its result entries and
    keeps them, tagged with the label space, as one entry per sample of this metric; ``evaluate(size)``
    gathers those entries over ranks in dataset order and drops the sampler's padding (``size`` = wrapper
    length) before splitting them by label space, so every child computes on exactly its dataset's samples.
    The children's own ``collect_device``/``prefix`` settings are therefore not used for gathering.

    Args:
        metrics (dict[str, dict | BaseMetric]): label-space name -> metric config or metric, e.g.
            ``dict(coco128=dict(type='CocoMetric', ...), bccd=dict(type='VOCMetric', ...))``.
        collect_device (str): ``'cpu'`` or ``'gpu'``, as for :class:`BaseMetric`.
        prefix (str, optional): extra prefix before ``'<space>/<child prefix>/<key>'``; none by default.
        collect_dir (str, optional): as for :class:`BaseMetric`.

    Result keys are ``'<space>/<child prefix>/<key>'``, e.g. ``'coco128/coco/bbox_mAP'``,
    ``'bccd/pascal_voc/mAP'`` (``'<space>/<key>'`` for a child without prefix).
    """

    default_prefix: Optional[str] = None

    def __init__(self,
                 metrics: Dict[str, Any],
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if not isinstance(metrics, dict) or not metrics:
            raise ValueError(f'metrics must be a non-empty dict label-space name -> metric config, got {metrics!r}')
        self.metrics: Dict[str, BaseMetric] = {}
        for name, cfg in metrics.items():
            metric = METRICS.build(cfg) if isinstance(cfg, dict) else cfg
            if not isinstance(metric, BaseMetric):
                raise TypeError(f'metric of label space {name!r} must be a metric config or BaseMetric, '
                                f'got {type(metric).__name__}')
            self.metrics[name] = metric

    @BaseMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        """Takes the wrapper's metainfo and gives each child metric its own dataset's metainfo."""
        self._dataset_meta = dataset_meta
        metas = (dataset_meta or {}).get('dataset_metas')
        if metas is None:
            raise ValueError("MultiLabelSpaceMetric needs the metainfo of a MultiLabelSpaceDataset "
                             "('dataset_metas' per label space); got keys "
                             f'{sorted((dataset_meta or {}).keys())}: wrap the evaluation datasets in it')
        no_metric = [n for n in metas if n not in self.metrics]
        if no_metric:
            raise ValueError(f'label space(s) {no_metric} of the dataset have no metric; metrics are given for '
                             f'{list(self.metrics)}')
        no_data = [n for n in self.metrics if n not in metas]
        if no_data:
            raise ValueError(f'metric(s) for label space(s) {no_data} but the dataset has only {list(metas)}')
        for name, metric in self.metrics.items():
            metric.dataset_meta = copy.deepcopy(metas[name])

    def _child(self, name: str) -> BaseMetric:
        if name not in self.metrics:
            raise KeyError(f'data sample of label space {name!r} but metrics are given only for '
                           f'{list(self.metrics)}')
        return self.metrics[name]

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Hands each sample to its label space's metric and keeps the entries that metric made for it.

        ``data_batch`` is passed on unchanged (mmdet's detection metrics do not read it).
        """
        for sample in data_samples:
            name = label_space_of(sample)
            child = self._child(name)
            start = len(child.results)
            child.process(data_batch, [sample])
            entries = child.results[start:]
            del child.results[start:]
            self.results.append((name, entries))

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """Splits the gathered per-sample entries by label space and runs each child metric on its share."""
        per_space: Dict[str, list] = {name: [] for name in self.metrics}
        for name, entries in results:
            self._child(name)
            per_space[name].extend(entries)
        out: Dict[str, float] = {}
        for name, metric in self.metrics.items():
            if not per_space[name]:
                raise ValueError(f'no evaluated sample of label space {name!r}: its dataset is missing from '
                                 f'the evaluation data')
            child_out = metric.compute_metrics(per_space[name])
            head = f'{name}/{metric.prefix}' if metric.prefix else name
            out.update({f'{head}/{k}': v for k, v in child_out.items()})
        return out


@EVALUATOR.register_module(name='MultiLabelSpaceMetric')
def build_multi_label_space_evaluator(**kwargs) -> Evaluator:
    """``val_evaluator=dict(type='MultiLabelSpaceMetric', metrics=...)`` as mmengine's Runner builds it.

    The Runner builds an evaluator config that has a ``metrics`` key from the ``EVALUATOR`` registry (as an
    ``Evaluator`` config); this entry turns it into an ``Evaluator`` holding the metric.
    """
    return Evaluator(MultiLabelSpaceMetric(**kwargs))
