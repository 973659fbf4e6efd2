"""Bad input gets an error that names the problem and the path."""
import json
import os.path as osp
import shutil

import numpy as np
import pytest

import mmdet_detrx  # noqa: F401
from mmdet.registry import DATASETS, TRANSFORMS
from mmdet_detrx.utils.cli import resolve_config
from tests.conftest import REPO

COCO = osp.join(REPO, 'data', 'coco128')
BCCD = osp.join(REPO, 'data', 'bccd', 'BCCD')


def coco_cfg(**kw):
    cfg = dict(type='DetrxCocoDataset', data_root=COCO, ann_file='annotations/instances_train2017.json',
               data_prefix=dict(img='train2017/'), pipeline=[])
    cfg.update(kw)
    return cfg


def test_missing_data_root(tmp_path):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match=f'data root not found: {missing!r}'):
        DATASETS.build(coco_cfg(data_root=missing))


def test_empty_and_malformed_annotation_file(tmp_path):
    (tmp_path / 'empty.json').write_text('')
    with pytest.raises(ValueError, match='annotation file is empty: .*empty.json'):
        DATASETS.build(coco_cfg(ann_file=str(tmp_path / 'empty.json')))
    (tmp_path / 'bad.json').write_text('{"images": [')
    with pytest.raises(ValueError, match='not valid JSON: .*bad.json'):
        DATASETS.build(coco_cfg(ann_file=str(tmp_path / 'bad.json')))
    (tmp_path / 'noimg.json').write_text(json.dumps(dict(images=[], annotations=[], categories=[])))
    with pytest.raises(ValueError, match='lists no image'):
        DATASETS.build(coco_cfg(ann_file=str(tmp_path / 'noimg.json')))
    with pytest.raises(FileNotFoundError, match='annotation file not found: .*nope.json'):
        DATASETS.build(coco_cfg(ann_file=str(tmp_path / 'nope.json')))


def test_unknown_class_name_in_metainfo():
    with pytest.raises(ValueError, match=r"\['unicorn'\]"):
        DATASETS.build(coco_cfg(metainfo=dict(classes=('person', 'unicorn'))))


def test_corrupt_and_missing_image(tmp_path):
    bad = tmp_path / 'corrupt.jpg'
    bad.write_bytes(b'\xff\xd8\xff this is not a jpeg' * 10)
    load = TRANSFORMS.build(dict(type='DetrxLoadImageFromFile'))
    with pytest.raises(OSError, match=f'cannot read image {str(bad)!r}: not a decodable image'):
        load(dict(img_path=str(bad)))
    missing = str(tmp_path / 'missing.jpg')
    with pytest.raises(OSError, match=f'cannot read image {missing!r}: missing file'):
        load(dict(img_path=missing))
    skip = TRANSFORMS.build(dict(type='DetrxLoadImageFromFile', on_error='skip'))
    assert skip(dict(img_path=str(bad))) is None
    good = skip(dict(img_path=osp.join(COCO, 'train2017', '000000000009.jpg')))
    assert good['img'].shape == (480, 640, 3) and good['img'].dtype == np.uint8


def test_corrupt_image_in_dataset_skipped_or_raised(tmp_path):
    """With on_error='skip' a training dataset draws another image; with 'raise' the path is named."""
    root = tmp_path / 'coco'
    shutil.copytree(COCO, root)
    victim = sorted((root / 'train2017').iterdir())[0]
    victim.write_bytes(b'garbage')
    pipeline = [dict(type='DetrxLoadImageFromFile', on_error='skip'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='PackDetInputs')]
    ds = DATASETS.build(coco_cfg(data_root=str(root), pipeline=pipeline, indices=3))
    idx = [i for i in range(len(ds)) if ds.get_data_info(i)['img_path'] == str(victim)]
    assert idx, 'victim image not among the first three'
    out = ds[idx[0]]
    assert out['data_samples'].img_path != str(victim)
    pipeline[0] = dict(type='DetrxLoadImageFromFile')
    ds = DATASETS.build(coco_cfg(data_root=str(root), pipeline=pipeline, indices=3))
    with pytest.raises(OSError, match=victim.name):
        ds[idx[0]]


def test_bccd_unknown_class_and_missing_xml(tmp_path):
    root = tmp_path / 'BCCD'
    shutil.copytree(BCCD, root)
    xml = root / 'Annotations' / 'BloodImage_00001.xml'
    xml.write_text(xml.read_text().replace('<name>RBC</name>', '<name>Neutrophil</name>', 1))
    (root / 'ImageSets' / 'Main' / 'tiny.txt').write_text('BloodImage_00001\n')
    cfg = dict(type='BCCDDataset', data_root=str(root), ann_file='ImageSets/Main/tiny.txt',
               data_prefix=dict(sub_data_root=''), pipeline=[])
    with pytest.raises(ValueError, match=r"BloodImage_00001.xml.*unknown class name\(s\) \['Neutrophil'\]"):
        DATASETS.build(cfg)
    ds = DATASETS.build(dict(cfg, unknown_class='ignore'))
    assert len(ds) == 1
    (root / 'ImageSets' / 'Main' / 'gone.txt').write_text('BloodImage_99999\n')
    with pytest.raises(FileNotFoundError, match='annotation XML not found: .*BloodImage_99999.xml'):
        DATASETS.build(dict(cfg, ann_file='ImageSets/Main/gone.txt'))


def test_unknown_config_name_suggests():
    with pytest.raises(FileNotFoundError, match="config not found: 'no-such-config'"):
        resolve_config('no-such-config')


def test_coco_annotation_file_is_parsed_once(monkeypatch):
    """The checks and mmdet's loader share one parse of the annotation json (large files load once)."""
    calls = []
    real_load = json.load

    def counting_load(f, *args, **kwargs):
        calls.append(getattr(f, 'name', f))
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(json, 'load', counting_load)
    ds = DATASETS.build(coco_cfg())
    assert len(calls) == 1 and calls[0].endswith('instances_train2017.json'), calls
    assert len(ds) == 128 and ds.cat_ids[:2] == [1, 2]
    assert sum(len(ds.get_data_info(i)['instances']) for i in range(len(ds))) == 939
