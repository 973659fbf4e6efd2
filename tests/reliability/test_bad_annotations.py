"""Annotations mmdet drops without a word are reported (counts per reason, examples), strict mode raises, and a
training set left empty is an error naming the file. The annotation files are made on the fly from coco128."""
import json
import logging
import os.path as osp

import pytest
from mmengine.logging import MMLogger
import mmdet_detrx  # noqa: F401
from mmdet.registry import DATASETS
from mmdet_detrx.datasets.checks import coco_annotation_problems

from ..conftest import REPO

COCO = osp.join(REPO, 'data', 'coco128')


def _write(tmp_path, mutate):
    with open(osp.join(COCO, 'annotations', 'instances_train2017.json')) as f:
        data = json.load(f)
    data['images'] = data['images'][:3]
    ids = {img['id'] for img in data['images']}
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] in ids]
    mutate(data)
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(data))
    return str(path), data


def _build(path, **kw):
    return DATASETS.build(dict(type='DetrxCocoDataset', data_root=COCO, ann_file=path,
                               data_prefix=dict(img='train2017/'), pipeline=[], **kw))


def _break_three(data):
    anns = data['annotations']
    anns[0]['bbox'][2] = -5.0  # negative width
    anns[1]['category_id'] = 999  # not a category
    anns[2]['area'] = 0.0  # zero area


def test_problems_are_found_by_reason(tmp_path):
    _, data = _write(tmp_path, _break_three)
    problems = coco_annotation_problems(data)
    assert {k: len(v) for k, v in problems.items()} == {
        'width or height < 1': 1, 'unknown category_id': 1, 'area <= 0': 1}
    assert 'category_id 999' in problems['unknown category_id'][0]


def test_dropped_annotations_are_logged_with_counts(tmp_path):
    path, data = _write(tmp_path, _break_three)
    logger = MMLogger.get_current_instance()  # print_log(logger='current') writes here
    records = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        dataset = _build(path)
    finally:
        logger.removeHandler(handler)
    message = ' '.join(r.getMessage() for r in records)
    assert f'{path}: 3 annotation(s) dropped' in message
    assert 'unknown category_id (1:' in message and 'width or height < 1 (1:' in message
    # and the dataset indeed lost exactly those three boxes
    kept = sum(len(dataset.get_data_info(i)['instances']) for i in range(len(dataset)))
    assert kept == len(data['annotations']) - 3 - sum(a.get('iscrowd', 0) for a in data['annotations'])


def test_strict_annotations_raise(tmp_path):
    path, _ = _write(tmp_path, _break_three)
    with pytest.raises(ValueError, match='3 annotation.*strict_annotations=True'):
        _build(path, strict_annotations=True)


def test_no_annotations_left_is_a_clear_error(tmp_path):
    path, _ = _write(tmp_path, lambda d: d.update(annotations=[]))
    with pytest.raises(ValueError, match=r"ann.json': no training image left after filter_cfg"):
        _build(path, filter_cfg=dict(filter_empty_gt=True))
    assert len(_build(path, test_mode=True)) == 3  # evaluation sets may have images without boxes
