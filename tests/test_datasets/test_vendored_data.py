"""The vendored datasets load through our base configs with the documented sizes and label spaces."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import mmdet_detrx  # noqa: F401
from mmdet.registry import DATASETS, METRICS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from tests.conftest import REPO

register_all_modules(init_default_scope=True)


def _build(cfg_name, split):
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', cfg_name))
    return DATASETS.build(cfg[split]['dataset']), cfg


def test_coco128_sizes_and_classes():
    ds, _ = _build('coco128_detection.py', 'val_dataloader')
    assert len(ds) == 128
    assert len(ds.metainfo['classes']) == 80 and ds.metainfo['classes'][0] == 'person'
    n_boxes = sum(len(ds.get_data_info(i)['instances']) for i in range(len(ds)))
    assert n_boxes == 939  # README of shared/data: 939 boxes
    train, _ = _build('coco128_detection.py', 'train_dataloader')
    assert len(train) == 126  # two images have no box: filtered for training
    sample = train[0]
    assert sample['inputs'].shape[0] == 3 and max(sample['inputs'].shape[1:]) <= 512
    assert len(sample['data_samples'].gt_instances) > 0


@pytest.mark.parametrize('split,n', [('train_dataloader', 205), ('val_dataloader', 87), ('test_dataloader', 72)])
def test_bccd_splits(split, n):
    ds, _ = _build('bccd_detection.py', split)
    assert len(ds) == n
    assert ds.metainfo['classes'] == ('RBC', 'WBC', 'Platelets')
    labels = torch.cat([torch.as_tensor([i['bbox_label'] for i in ds.get_data_info(k)['instances']])
                        for k in range(len(ds))])
    assert set(labels.tolist()) == {0, 1, 2}


def test_bccd_voc_metric_perfect_and_empty_predictions():
    """VOC mAP of BCCD: ground truth as prediction scores 1.0, no prediction scores 0."""
    ds, cfg = _build('bccd_detection.py', 'test_dataloader')
    metric = METRICS.build(cfg.test_evaluator)
    metric.dataset_meta = ds.metainfo
    for perfect in (True, False):
        results = []
        for k in range(8):
            item = ds[k]
            gt = item['data_samples'].gt_instances
            ds_ = DetDataSample(metainfo=item['data_samples'].metainfo)
            pred = gt.clone() if perfect else gt[:0].clone()
            pred.scores = torch.ones(len(pred))
            ds_.pred_instances = pred
            ds_.gt_instances = gt
            ds_.ignored_instances = item['data_samples'].ignored_instances
            results.append(ds_.to_dict())
        metric.results = []
        metric.process({}, results)
        out = metric.compute_metrics(metric.results)
        assert out['mAP'] == pytest.approx(1.0 if perfect else 0.0, abs=1e-6), out
