"""AP50 of one-shot detection episodes, per episode class (UP-DETR / CoAE protocol)."""
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdet.evaluation.functional import eval_map
from mmdet.registry import METRICS


def _numpy(value) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, 'detach') else np.asarray(value)


@METRICS.register_module()
class OneShotMetric(BaseMetric):
    """VOC-style AP at one IoU threshold of one-shot detection, per episode class and their mean.

    Every data sample is an episode of :class:`~mmdet_detrx.datasets.OneShotEpisodeDataset` (metainfo
    ``episode_class``): its ground truth is the boxes of the query's class in the target (``gt_instances``,
    ``ignored_instances`` if any) and its predictions (``pred_instances``) are scored boxes of "the query's
    class" (every label counts). The episodes of one class form one detection problem whose AP
    :func:`mmdet.evaluation.functional.eval_map` computes (each episode is an image with one class); the
    reported mean is over the evaluated classes.

    Metric keys (with the prefix ``one_shot``): ``AP50`` (mean over classes) and ``AP50_<class>`` per class
    (spaces in class names become ``_``); with another ``iou_thr`` the number changes, e.g. ``AP75``.

    Args:
        iou_thr (float): IoU for a true positive. Defaults to 0.5 (paper: AP50).
        eval_mode (str): ``'area'`` (VOC2010+) or ``'11points'`` (VOC2007). Defaults to ``'area'``.
        classes (list[str], optional): evaluate only these episode classes (others are ignored); a listed class
            without episodes is an error. Defaults to all episode classes met.
        collect_device (str): as ``BaseMetric``. Defaults to ``'cpu'``.
        prefix (str, optional): as ``BaseMetric``. Defaults to ``'one_shot'``.
    """

    default_prefix: Optional[str] = 'one_shot'

    def __init__(self,
                 iou_thr: float = 0.5,
                 eval_mode: str = 'area',
                 classes: Optional[Sequence[str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0.0 < iou_thr < 1.0:
            raise ValueError(f'iou_thr must be in (0, 1), got {iou_thr}')
        if eval_mode not in ('area', '11points'):
            raise ValueError(f"eval_mode must be 'area' or '11points', got {eval_mode!r}")
        self.iou_thr = iou_thr
        self.eval_mode = eval_mode
        self.classes = tuple(classes) if classes is not None else None

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Stores (episode class, annotation, detections) per episode.

        Args:
            data_batch (dict): unused.
            data_samples (list[dict]): ``DetDataSample.to_dict()`` of each episode with ``episode_class``,
                ``gt_instances`` (``bboxes`` (G, 4) in the original image), optional ``ignored_instances`` and
                ``pred_instances`` (``bboxes`` (N, 4), ``scores`` (N,)).
        """
        for sample in data_samples:
            if 'episode_class' not in sample:
                raise KeyError(f'{type(self).__name__}: data sample of {sample.get("img_path", "?")!r} has no '
                               f'episode_class: evaluate a OneShotEpisodeDataset')
            if 'gt_instances' not in sample:
                raise KeyError(f'{type(self).__name__}: data sample of {sample.get("img_path", "?")!r} has no '
                               f'gt_instances: put LoadAnnotations in the test pipeline')
            gt = sample['gt_instances']
            ignored = sample.get('ignored_instances', {}) or {}
            bboxes = _numpy(gt['bboxes']).reshape(-1, 4).astype(np.float32)
            bboxes_ignore = (_numpy(ignored['bboxes']).reshape(-1, 4).astype(np.float32)
                             if 'bboxes' in ignored else np.zeros((0, 4), np.float32))
            ann = dict(bboxes=bboxes, labels=np.zeros(len(bboxes), np.int64), bboxes_ignore=bboxes_ignore,
                       labels_ignore=np.zeros(len(bboxes_ignore), np.int64))
            pred = sample['pred_instances']
            dets = np.hstack([_numpy(pred['bboxes']).reshape(-1, 4),
                              _numpy(pred['scores']).reshape(-1, 1)]).astype(np.float32)
            self.results.append((str(sample['episode_class']), ann, dets))

    def class_aps(self, results: List[tuple]) -> Dict[str, float]:
        """AP of every episode class, in the order of ``classes``, else of the dataset's ``episode_classes``."""
        grouped = defaultdict(lambda: ([], []))
        for name, ann, dets in results:
            grouped[name][0].append(ann)
            grouped[name][1].append([dets])
        order = list((self.dataset_meta or {}).get('episode_classes', ()))  # the dataset's class order
        names = [c for c in order if c in grouped] + [c for c in grouped if c not in order]
        if self.classes is not None:
            missing = [c for c in self.classes if c not in grouped]
            if missing:
                raise ValueError(f'{type(self).__name__}: no episode of class(es) {missing}; the evaluated '
                                 f'episodes have classes {names}')
            names = list(self.classes)
        aps = OrderedDict()
        for name in names:
            anns, dets = grouped[name]
            _, per_class = eval_map(dets, anns, iou_thr=self.iou_thr, eval_mode=self.eval_mode, nproc=1,
                                    logger='silent')
            aps[name] = float(per_class[0]['ap'])
        return aps

    def compute_metrics(self, results: list) -> Dict[str, float]:
        if not results:
            raise ValueError(f'{type(self).__name__}: no episode was evaluated')
        aps = self.class_aps(results)
        tag = f'AP{int(round(self.iou_thr * 100))}'
        metrics = OrderedDict()
        metrics[tag] = float(np.mean(list(aps.values())))
        for name, ap in aps.items():
            metrics[f'{tag}_{name.replace(" ", "_")}'] = ap
        MMLogger.get_current_instance().info(
            f'one-shot {tag} over {len(aps)} classes ({len(results)} episodes): ' +
            ', '.join(f'{n}={ap:.4f}' for n, ap in aps.items()) + f'; mean={metrics[tag]:.4f}')
        return metrics


__all__ = ['OneShotMetric']
