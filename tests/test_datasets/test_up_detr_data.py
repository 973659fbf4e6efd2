"""UP-DETR data: UnlabeledImageDataset, RandomQueryPatches, PackQueryPatchInputs, the patch colour transforms and the
pre-training pipeline of the shipped configs, on the vendored images."""
import json
import logging
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger

import mmdet_detrx  # noqa: F401
from mmdet.registry import DATASETS, MODELS, TRANSFORMS
from mmdet.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
COCO128_IMGS = osp.join(REPO, 'data', 'coco128', 'train2017')
BCCD_IMGS = osp.join(REPO, 'data', 'bccd', 'BCCD', 'JPEGImages')
SMALL_CFG = osp.join(REPO, 'configs', 'up_detr', 'up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py')
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


@pytest.fixture(scope='module', autouse=True)
def mmdet_scope():
    register_all_modules(init_default_scope=True)


def coco128_images(n):
    return sorted(os.listdir(COCO128_IMGS))[:n]


def image_folder(tmp_path, n=3, corrupt=False):
    """A folder with ``n`` coco128 images in nested sub-folders (+ a corrupt .jpg and a non-image file)."""
    root = tmp_path / 'imgs'
    for i, name in enumerate(coco128_images(n)):
        sub = root / f'class{i % 2}'
        sub.mkdir(parents=True, exist_ok=True)
        shutil.copy(osp.join(COCO128_IMGS, name), sub / (name.replace('.jpg', '.JPEG') if i == 0 else name))
    (root / 'notes.txt').write_text('not an image')
    if corrupt:
        (root / 'class1' / 'zz_broken.jpg').write_bytes(b'\xff\xd8 this is not a jpeg')
    return str(root)


def patch_transform(**kwargs):
    cfg = dict(type='RandomQueryPatches', num_patches=10, min_size=8, patch_size=32)
    cfg.update(kwargs)
    return TRANSFORMS.build(cfg)


# --------------------------------------------------------------------------------------------- RandomQueryPatches
def test_patch_boxes_inside_image_and_side_range():
    transform = patch_transform(num_patches=10, min_size=8)
    img = np.random.RandomState(0).randint(0, 255, (60, 90, 3), dtype=np.uint8)
    widths, heights = [], []
    for seed in range(200):
        np.random.seed(seed)
        out = transform(dict(img=img.copy(), img_path='x.jpg'))
        boxes = out['gt_bboxes'].tensor.numpy()
        assert boxes.shape == (10, 4)
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
        assert (boxes[:, 2] <= 90).all() and (boxes[:, 3] <= 60).all()
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        widths.extend(w), heights.extend(h)
    # reference: sides uniform in [min_size, side - min_size]
    assert min(widths) == 8 and max(widths) == 90 - 8
    assert min(heights) == 8 and max(heights) == 60 - 8


def test_patch_content_labels_and_shapes():
    """Each patch is the resized crop of its box (no patch pipeline), label 0, not ignored."""
    transform = patch_transform(num_patches=4, patch_size=16)
    img = np.random.RandomState(1).randint(0, 255, (50, 70, 3), dtype=np.uint8)
    out = transform(dict(img=img.copy()))
    patches = out['query_patches']
    assert patches.shape == (4, 16, 16, 3) and patches.dtype == np.float32
    assert out['gt_bboxes_labels'].tolist() == [0] * 4 and out['gt_bboxes_labels'].dtype == np.int64
    assert not out['gt_ignore_flags'].any()
    import mmcv
    for (x1, y1, x2, y2), patch in zip(out['gt_bboxes'].tensor.int().tolist(), patches):
        expected = mmcv.imresize(img[y1:y2, x1:x2], (16, 16), interpolation='bilinear')
        np.testing.assert_array_equal(patch, expected.astype(np.float32))
    assert (out['img'] == img).all()  # the image itself is untouched


def test_max_size_and_small_images(caplog):
    transform = patch_transform(num_patches=20, min_size=5, max_size=12)
    np.random.seed(0)
    out = transform(dict(img=np.zeros((100, 100, 3), np.uint8)))
    sides = out['gt_bboxes'].widths.tolist() + out['gt_bboxes'].heights.tolist()
    assert min(sides) >= 5 and max(sides) <= 12
    # too small for any patch: skipped with a warning naming the image
    small = patch_transform(min_size=8)
    assert small(dict(img=np.zeros((15, 100, 3), np.uint8), img_path='tiny.jpg')) is None
    assert small(dict(img=np.zeros((16, 16, 3), np.uint8))) is not None  # 8x8 patches fit exactly
    with pytest.raises(ValueError, match='max_size'):
        patch_transform(min_size=10, max_size=5)


def test_patch_pipeline_normalizes_and_must_keep_size():
    norm = dict(type='Normalize', mean=MEAN, std=STD, to_rgb=True)
    transform = patch_transform(num_patches=3, patch_size=8, patch_pipeline=[norm])
    img = np.full((40, 40, 3), (10, 20, 30), np.uint8)  # BGR
    out = transform(dict(img=img))
    expected = (np.array([30, 20, 10]) - np.array(MEAN)) / np.array(STD)  # RGB, normalized
    np.testing.assert_allclose(out['query_patches'][0, 0, 0], expected, rtol=1e-5)
    bad = patch_transform(num_patches=4, patch_size=8,
                          patch_pipeline=[dict(type='RandomChoiceResize', scales=[(4, 4), (6, 6)], keep_ratio=False)])
    np.random.seed(0)
    with pytest.raises(ValueError, match='keep the 8x8 patch size'):
        for _ in range(20):
            bad(dict(img=np.zeros((40, 40, 3), np.uint8)))


def test_colour_transforms():
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, (20, 30, 3), dtype=np.uint8)
    jitter = TRANSFORMS.build
    same = jitter(dict(type='DetrxColorJitter', brightness=(1, 1), contrast=(1, 1), saturation=(1, 1)))
    np.testing.assert_array_equal(same(dict(img=img.copy()))['img'], img)
    dark = jitter(dict(type='DetrxColorJitter', brightness=(0.5, 0.5)))(dict(img=img.copy()))['img']
    np.testing.assert_allclose(dark, np.rint(img * 0.5), atol=0)
    grey = jitter(dict(type='DetrxColorJitter', saturation=(0, 0)))(dict(img=img.copy()))['img'].astype(int)
    assert np.abs(grey[..., 0] - grey[..., 2]).max() <= 1
    flat = jitter(dict(type='DetrxColorJitter', contrast=(0, 0)))(dict(img=img.copy()))['img']
    assert flat.min() == flat.max()
    half_turn = jitter(dict(type='DetrxColorJitter', hue=(0.5, 0.5)))
    back = half_turn(half_turn(dict(img=img.copy())))['img'].astype(int)
    assert np.abs(back - img).mean() < 3
    random_jitter = jitter(dict(type='DetrxColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1))
    out = random_jitter(dict(img=img.copy()))['img']
    assert out.shape == img.shape and out.dtype == np.uint8
    with pytest.raises(ValueError, match='brightness'):
        jitter(dict(type='DetrxColorJitter', brightness=-1))
    blurred = jitter(dict(type='DetrxGaussianBlur', sigma=(2.0, 2.0)))(dict(img=img.copy()))['img']
    assert blurred.shape == img.shape and blurred.astype(float).std() < img.astype(float).std() * 0.7


# ----------------------------------------------------------------------------------------- PackQueryPatchInputs
def test_pack_and_stock_preprocessor():
    pipeline = [
        dict(type='RandomQueryPatches', num_patches=5, patch_size=16,
             patch_pipeline=[dict(type='Normalize', mean=MEAN, std=STD, to_rgb=True)]),
        dict(type='Resize', scale=(64, 48), keep_ratio=True),
        dict(type='PackQueryPatchInputs'),
    ]
    transforms = [TRANSFORMS.build(t) for t in pipeline]
    samples = []
    for seed in range(2):
        results = dict(img=np.random.RandomState(seed).randint(0, 255, (120, 160, 3), dtype=np.uint8),
                       img_path=f'{seed}.jpg', img_id=seed, ori_shape=(120, 160), img_shape=(120, 160))
        for t in transforms:
            results = t(results)
        samples.append(results)
    sample = samples[0]['data_samples']
    assert sample.query_patches.shape == (5, 3, 16, 16) and sample.query_patches.dtype == torch.float32
    gt = sample.gt_instances
    assert len(gt) == 5 and gt.labels.tolist() == [0] * 5
    h, w = sample.img_shape
    boxes = gt.bboxes.tensor
    assert (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all() and (boxes >= 0).all()
    # the stock data preprocessor keeps the patches with their samples
    preprocessor = MODELS.build(dict(type='DetDataPreprocessor', mean=MEAN, std=STD, bgr_to_rgb=True))
    data = preprocessor(pseudo_collate(samples), training=True)
    assert data['inputs'].shape == (2, 3, 48, 64)
    assert [s.query_patches.shape for s in data['data_samples']] == [(5, 3, 16, 16)] * 2


def test_pack_checks_patch_box_pairing():
    pack = TRANSFORMS.build(dict(type='PackQueryPatchInputs'))
    with pytest.raises(KeyError, match='RandomQueryPatches'):
        pack(dict(img=np.zeros((8, 8, 3), np.uint8), img_path='a.jpg'))
    results = patch_transform(num_patches=3, patch_size=4)(dict(img=np.zeros((40, 40, 3), np.uint8)))
    results['gt_bboxes'] = results['gt_bboxes'][:2]  # a transform dropped a box
    with pytest.raises(ValueError, match='2 gt boxes but 3 query patches'):
        pack(results)


# ----------------------------------------------------------------------------------------- UnlabeledImageDataset
def test_folder_dataset_recursive(tmp_path):
    root = image_folder(tmp_path, n=3)
    ds = DATASETS.build(dict(type='UnlabeledImageDataset', data_root=root, pipeline=[]))
    paths = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    assert len(paths) == 3 and all(p.startswith(root) for p in paths)
    assert any(p.endswith('.JPEG') for p in paths) and not any(p.endswith('.txt') for p in paths)
    assert paths == sorted(paths)
    assert ds.metainfo['classes'] == ('object', )
    assert ds.get_data_info(0)['instances'] == []


def test_folder_dataset_several_dirs_and_json(tmp_path):
    ds = DATASETS.build(dict(type='UnlabeledImageDataset', data_root=osp.join(REPO, 'data'),
                             img_dirs=['coco128/train2017', 'bccd/BCCD/JPEGImages'], pipeline=[]))
    assert len(ds) == 128 + 364
    ann = osp.join(REPO, 'data', 'coco128', 'annotations', 'instances_train2017.json')
    ds = DATASETS.build(dict(type='UnlabeledImageDataset', ann_file=ann, data_prefix=dict(img=COCO128_IMGS),
                             pipeline=[]))
    info = ds.get_data_info(0)
    assert len(ds) == 128 and info['instances'] == [] and osp.isfile(info['img_path'])
    assert {'width', 'height', 'img_id'} <= set(info)
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'images': [{'id': 1}]}))
    with pytest.raises(ValueError, match=r'images\[0\] has no file_name'):
        DATASETS.build(dict(type='UnlabeledImageDataset', ann_file=str(bad), pipeline=[]))
    (tmp_path / 'empty.json').write_text(json.dumps({'annotations': []}))
    with pytest.raises(ValueError, match='no COCO `images` list'):
        DATASETS.build(dict(type='UnlabeledImageDataset', ann_file=str(tmp_path / 'empty.json'), pipeline=[]))


def test_folder_dataset_errors(tmp_path):
    empty = tmp_path / 'empty'
    (empty / 'sub').mkdir(parents=True)
    (empty / 'sub' / 'readme.txt').write_text('x')
    with pytest.raises(ValueError, match='no image files'):
        DATASETS.build(dict(type='UnlabeledImageDataset', data_root=str(empty), pipeline=[]))
    with pytest.raises(FileNotFoundError, match='image folder not found'):
        DATASETS.build(dict(type='UnlabeledImageDataset', img_dirs=[str(tmp_path / 'missing')], pipeline=[]))
    with pytest.raises(ValueError, match='not both'):
        DATASETS.build(dict(type='UnlabeledImageDataset', ann_file='x.json', img_dirs=['a'], pipeline=[]))


def pretrain_pipeline(on_error):
    return [
        dict(type='DetrxLoadImageFromFile', on_error=on_error),
        dict(type='RandomQueryPatches', num_patches=2, patch_size=8),
        dict(type='Resize', scale=(64, 64), keep_ratio=True),
        dict(type='PackQueryPatchInputs'),
    ]


def test_corrupt_image_raise_or_skip(tmp_path):
    root = image_folder(tmp_path, n=2, corrupt=True)
    broken = osp.join(root, 'class1', 'zz_broken.jpg')
    ds = DATASETS.build(dict(type='UnlabeledImageDataset', data_root=root, pipeline=pretrain_pipeline('raise')))
    idx = [ds.get_data_info(i)['img_path'] for i in range(len(ds))].index(broken)
    with pytest.raises(OSError, match='zz_broken.jpg'):
        ds[idx]
    ds = DATASETS.build(dict(type='UnlabeledImageDataset', data_root=root, pipeline=pretrain_pipeline('skip')))
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        sample = ds[idx]  # another image is drawn instead, with a warning naming the broken one
    finally:
        logger.removeHandler(handler)
    assert sample['data_samples'].img_path != broken
    assert sample['data_samples'].query_patches.shape == (2, 3, 8, 8)
    assert any('skipping unreadable image' in r.getMessage() and 'zz_broken.jpg' in r.getMessage() for r in records)


def test_shipped_small_pretrain_pipeline():
    cfg = Config.fromfile(SMALL_CFG)
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.indices = 3
    ds = DATASETS.build(ds_cfg)
    assert len(ds) == 3
    num_patches = cfg.model.patch_encoder.num_patches
    sample = ds[0]['data_samples']
    assert sample.query_patches.shape == (num_patches, 3, 64, 64)
    assert len(sample.gt_instances) == num_patches
    assert min(sample.img_shape) in (192, 224, 256) or max(sample.img_shape) == 384
    # the patches are normalized like the images (roughly zero mean, unit scale)
    assert abs(float(sample.query_patches.mean())) < 1.5 and 0.2 < float(sample.query_patches.std()) < 3
