"""Checks of the ground truth a detector's ``loss`` receives: a bad box or label is an error that names the image,
not a scipy or indexing error deep inside an assigner."""
from typing import Optional

import torch

from mmdet.structures import SampleList


def check_gt_instances(batch_data_samples: SampleList, num_classes: Optional[int] = None) -> None:
    """Raises ``ValueError`` naming the image for non-finite boxes, boxes with x2 < x1 or y2 < y1, and (when
    ``num_classes`` is given) labels outside ``0 .. num_classes - 1``.

    Args:
        batch_data_samples: Samples with ``gt_instances`` (``bboxes`` (n, 4) xyxy, ``labels`` (n, )).
        num_classes: The head's class count; None skips the label check (e.g. METR's per-space labels).
    """
    for i, sample in enumerate(batch_data_samples):
        gt = sample.gt_instances
        where = sample.metainfo.get('img_path', f'image {i} of the batch')
        boxes = gt.bboxes.tensor if hasattr(gt.bboxes, 'tensor') else gt.bboxes
        if boxes.numel():
            bad = (~torch.isfinite(boxes).all(dim=1)).nonzero().flatten()
            if len(bad):
                raise ValueError(f'{where}: ground-truth box(es) {bad.tolist()} are not finite: '
                                 f'{boxes[bad[:3]].tolist()}')
            bad = ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).nonzero().flatten()
            if len(bad):
                raise ValueError(f'{where}: ground-truth box(es) {bad.tolist()} have x2 < x1 or y2 < y1: '
                                 f'{boxes[bad[:3]].tolist()}')
        labels = gt.labels
        if num_classes is not None and labels.numel():
            bad = ((labels < 0) | (labels >= num_classes)).nonzero().flatten()
            if len(bad):
                raise ValueError(f'{where}: ground-truth label(s) {labels[bad].tolist()} outside 0..{num_classes - 1} '
                                 f'(the head has num_classes={num_classes}; do the config classes match the data?)')
