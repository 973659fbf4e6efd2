"""One-shot detection: OneShotEpisodeDataset on the vendored coco128 / BCCD, PackOneShotInputs,
OneShotMetric (against a brute-force AP) and a tiny UPCondDETR trained and run on episodes."""
import copy
import os.path as osp
from collections import defaultdict

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

import mmdet_detrx  # noqa: F401
from mmdet.registry import DATASETS, METRICS, MODELS
from mmdet.utils import register_all_modules
from mmdet_detrx.datasets.one_shot import OneShotEpisodeDataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
COCO128 = osp.join(REPO, 'data', 'coco128')
BCCD = osp.join(REPO, 'data', 'bccd', 'BCCD')
CONFIG = osp.join(REPO, 'configs', 'up_detr', 'one-shot_up-conditional-detr_r18_1xb2-12e_coco128.py')
PRETRAIN_CONFIG = osp.join(REPO, 'configs', 'up_detr', 'up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py')
VOC_CONFIG = osp.join(REPO, 'configs', 'up_detr', 'one-shot_up-detr_r50_8xb2-150e_voc0712.py')
UNSEEN = ['dog', 'teddy bear', 'airplane', 'bus']
MEAN, STD = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
RAW_PIPELINE = [dict(type='DetrxLoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='PackOneShotInputs')]  # no resize: gt boxes in annotation pixels


@pytest.fixture(scope='module', autouse=True)
def mmdet_scope():
    register_all_modules(init_default_scope=True)


def coco128(pipeline=RAW_PIPELINE, **kwargs):
    return dict(type='DetrxCocoDataset', data_root=COCO128 + '/', ann_file='annotations/instances_train2017.json',
                data_prefix=dict(img='train2017/'), pipeline=pipeline, **kwargs)


def bccd(split='train', pipeline=RAW_PIPELINE, **kwargs):
    return dict(type='BCCDDataset', data_root=BCCD + '/', ann_file=f'ImageSets/Main/{split}.txt',
                data_prefix=dict(sub_data_root=''), pipeline=pipeline, **kwargs)


def episodes(dataset, **kwargs):
    kwargs.setdefault('patch_size', 32)
    return DATASETS.build(dict(type='OneShotEpisodeDataset', dataset=dataset, **kwargs))


def raw_boxes(inner, img_idx):
    """{label: (n, 4) boxes} of the not ignored instances of an image of the wrapped dataset."""
    out = defaultdict(list)
    for inst in inner.get_data_info(img_idx)['instances']:
        if not inst.get('ignore_flag', 0):
            out[inst['bbox_label']].append(inst['bbox'])
    return {k: np.array(v, np.float32) for k, v in out.items()}


def same_rows(a, b):
    return sorted(map(tuple, np.round(a, 3))) == sorted(map(tuple, np.round(b, 3)))


@pytest.fixture(scope='module')
def unseen_coco():
    return episodes(coco128(), classes='unseen', unseen_classes=UNSEEN, test_mode=True)


@pytest.fixture(scope='module')
def seen_coco():
    return episodes(coco128(), classes='seen', unseen_classes=UNSEEN, test_mode=True)


# ------------------------------------------------------------------------------------------------------ episodes
def test_episodes_enumerate_image_class_pairs(unseen_coco, seen_coco):
    inner = unseen_coco.dataset
    names = inner.metainfo['classes']
    unseen_ids = {names.index(n) for n in UNSEEN}
    expected_unseen, expected_seen = set(), set()
    for i in range(len(inner)):
        for label in raw_boxes(inner, i):
            (expected_unseen if label in unseen_ids else expected_seen).add((i, label))
    assert set(unseen_coco.episodes) == expected_unseen and len(unseen_coco) == len(expected_unseen) == 25
    assert set(seen_coco.episodes) == expected_seen and len(seen_coco) == 337
    per_class = defaultdict(int)
    for _, c in unseen_coco.episodes:
        per_class[names[c]] += 1
    assert dict(per_class) == {'dog': 9, 'teddy bear': 6, 'airplane': 5, 'bus': 5}
    assert unseen_coco.metainfo['classes'] == ('object', )
    assert set(unseen_coco.metainfo['episode_classes']) == set(UNSEEN)


def test_every_unseen_episode_gt_and_query(unseen_coco):
    inner = unseen_coco.dataset
    names = inner.metainfo['classes']
    for idx in range(len(unseen_coco)):
        img_idx, cls = unseen_coco.episodes[idx]
        sample = unseen_coco[idx]['data_samples']
        meta = sample.metainfo
        assert meta['episode_class'] == names[cls] and meta['episode_class_id'] == cls and meta['episode_id'] == idx
        # gt: exactly the class-c boxes of the target, label 0
        gt = sample.gt_instances
        assert same_rows(gt.bboxes.tensor.numpy(), raw_boxes(inner, img_idx)[cls])
        assert (gt.labels == 0).all()
        # query: a box of class c of ANOTHER image (every unseen class is in >= 5 images)
        q_idx = [i for i in range(len(inner)) if inner.get_data_info(i)['img_path'] == meta['query_img_path']][0]
        assert q_idx != img_idx
        q_boxes = raw_boxes(inner, q_idx)[cls]
        assert np.isclose(q_boxes, np.array(meta['query_bbox'])).all(1).any()
        w, h = meta['query_bbox'][2] - meta['query_bbox'][0], meta['query_bbox'][3] - meta['query_bbox'][1]
        assert min(w, h) >= 16
        assert sample.query_patches.shape == (1, 3, 32, 32) and sample.query_patches.dtype == torch.float32


def test_query_patch_is_the_normalised_crop(unseen_coco):
    sample = unseen_coco[0]['data_samples']
    x1, y1, x2, y2 = sample.metainfo['query_bbox']
    img = mmcv.imread(sample.metainfo['query_img_path'])
    crop = img[int(np.floor(y1)):int(np.ceil(y2)), int(np.floor(x1)):int(np.ceil(x2))]
    expected = (mmcv.imresize(crop, (32, 32))[..., ::-1].astype(np.float32) - MEAN) / STD
    got = sample.query_patches[0].permute(1, 2, 0).numpy()
    assert np.abs(got - expected).max() < 1e-3


def test_seen_mode_has_no_unseen_boxes(seen_coco):
    inner = seen_coco.dataset
    names = inner.metainfo['classes']
    unseen_ids = {names.index(n) for n in UNSEEN}
    checked_mixed = 0
    for idx in range(0, len(seen_coco), 3):
        img_idx, cls = seen_coco.episodes[idx]
        assert cls not in unseen_ids
        raw = raw_boxes(inner, img_idx)
        gt = seen_coco[idx]['data_samples'].gt_instances.bboxes.tensor.numpy()
        assert same_rows(gt, raw[cls])
        unseen_here = [raw[u] for u in unseen_ids if u in raw]
        if unseen_here:
            checked_mixed += 1
            for box in np.concatenate(unseen_here):
                assert not np.isclose(gt, box).all(1).any()
    assert checked_mixed > 0  # some targets did contain unseen objects
    queries = {names[c] for c, qs in seen_coco.queries.items() if qs and c in seen_coco.active_class_ids}
    assert not queries & set(UNSEEN)
    # the stricter variant drops every image with an unseen box
    strict = episodes(coco128(), classes='seen', unseen_classes=UNSEEN, exclude_images_with_unseen=True)
    mixed_imgs = {i for i in range(len(inner)) if set(raw_boxes(inner, i)) & unseen_ids}
    assert mixed_imgs and not {i for i, _ in strict.episodes} & mixed_imgs
    assert len(strict) < len(seen_coco)


def test_deterministic_at_test_time_random_at_train_time(unseen_coco):
    again = episodes(coco128(), classes='unseen', unseen_classes=UNSEEN, test_mode=True)
    for idx in (0, 7, 24):
        a, b = unseen_coco[idx]['data_samples'], again[idx]['data_samples']
        assert a.metainfo['query_bbox'] == b.metainfo['query_bbox']
        assert torch.equal(a.query_patches, b.query_patches)
        assert unseen_coco.get_data_info(idx)['query_bbox'] == a.metainfo['query_bbox']
    train = episodes(coco128(), classes='unseen', unseen_classes=UNSEEN, test_mode=False)
    np.random.seed(0)
    drawn = {tuple(train.get_data_info(0)['query_bbox']) for _ in range(30)}
    assert len(drawn) > 2  # dog has 8 other images


def test_fallback_to_the_same_image():
    """bear: 1 instance in 1 image -> its own crop; horse: 2 instances in 1 image -> the second one."""
    ds = episodes(coco128(), classes='unseen', unseen_classes=['bear', 'horse'], test_mode=True)
    names = ds.source_classes
    for idx, (img_idx, cls) in enumerate(ds.episodes):
        info = ds.get_data_info(idx)
        assert info['img_path'] == info['query_img_path']
        boxes = raw_boxes(ds.dataset, img_idx)[cls]
        assert np.allclose(info['query_bbox'], boxes[1 if names[cls] == 'horse' else 0])


def test_bccd_episodes():
    ds = episodes(bccd('val'), classes='unseen', unseen_classes=['WBC'], test_mode=True)
    seen = episodes(bccd('val'), classes='seen', unseen_classes=['WBC'], test_mode=True)
    names = ds.source_classes
    assert {names[c] for _, c in ds.episodes} == {'WBC'}
    assert {names[c] for _, c in seen.episodes} == {'RBC', 'Platelets'}
    for idx in range(0, len(ds), 10):
        img_idx, cls = ds.episodes[idx]
        sample = ds[idx]['data_samples']
        assert same_rows(sample.gt_instances.bboxes.tensor.numpy(), raw_boxes(ds.dataset, img_idx)[cls])
        assert sample.metainfo['query_img_path'] != sample.metainfo['img_path']
        assert sample.metainfo['episode_class'] == 'WBC'
    # a seen class without boxes large enough for a query is skipped (warning), not an error
    no_platelets = episodes(bccd('val'), classes='seen', unseen_classes=['WBC'], min_query_size=62)
    assert {names[c] for _, c in no_platelets.episodes} == {'RBC'}
    with pytest.raises(ValueError, match=r'no episode: no image .* seen classes \[\]'):
        episodes(bccd('val'), classes='seen', unseen_classes=['WBC'], min_query_size=10 ** 4)
    with pytest.raises(ValueError, match=r"unseen class 'WBC' cannot make episodes.*smaller than min_query_size"):
        episodes(bccd('val'), classes='unseen', unseen_classes=['WBC'], min_query_size=10 ** 4)


def test_concat_dataset_is_wrapped(unseen_coco):
    """VOC07+12 style: a ConcatDataset of two parts; each episode goes through its part's pipeline."""
    concat = dict(type='ConcatDataset', datasets=[coco128(indices=list(range(64))),
                                                  coco128(indices=list(range(64, 128)))])
    ds = episodes(concat, classes='unseen', unseen_classes=UNSEEN, test_mode=True)
    assert ds.episodes == unseen_coco.episodes
    for idx in (0, len(ds) - 1):
        a, b = ds[idx]['data_samples'], unseen_coco[idx]['data_samples']
        assert a.img_path == b.img_path and a.query_img_path == b.query_img_path
        assert torch.equal(a.gt_instances.bboxes.tensor, b.gt_instances.bboxes.tensor)


def test_split_errors():
    with pytest.raises(ValueError, match=r"split: unknown class name\(s\) 'aeroplane' \(did you mean 'airplane'"):
        episodes(coco128(), classes='unseen', split='voc')
    with pytest.raises(ValueError, match=r"'dgo' \(did you mean 'dog'\?\)"):
        episodes(coco128(), classes='seen', unseen_classes=['dgo', 'bus'])
    with pytest.raises(ValueError, match=r"unseen class 'sheep' cannot make episodes: it has no instance"):
        episodes(coco128(), classes='unseen', unseen_classes=['sheep'])
    with pytest.raises(ValueError, match=r"unknown split 'coco'"):
        episodes(coco128(), classes='unseen', split='coco')
    with pytest.raises(ValueError, match='needs the unseen classes'):
        episodes(coco128(), classes='seen')
    with pytest.raises(ValueError, match='either split'):
        episodes(coco128(), classes='seen', split='voc', unseen_classes=['dog'])
    with pytest.raises(ValueError, match="classes must be 'seen', 'unseen' or 'all'"):
        episodes(coco128(), classes='novel', unseen_classes=['dog'])
    voc = OneShotEpisodeDataset(dataset=dict(type='VOCDataset', data_root='nowhere', ann_file='x.txt',
                                                  lazy_init=True), classes='seen', split='voc', lazy_init=True)
    assert voc.unseen_names == ('cow', 'sheep', 'cat', 'aeroplane')


def test_pipeline_without_patch_packer_is_a_clear_error():
    from mmdet.registry import TRANSFORMS
    packer = TRANSFORMS.build(dict(type='PackOneShotInputs'))
    with pytest.raises(KeyError, match="no 'query_patches'.*OneShotEpisodeDataset"):
        packer(dict(img=np.zeros((4, 4, 3), np.uint8), img_path='a.jpg'))
    assert 'episode_class' in packer.meta_keys and 'flip' in packer.meta_keys


# ------------------------------------------------------------------------------------------------------- metric
def brute_force_ap(dets, gts, iou_thr=0.5):
    """VOC 'area' AP: dets [(episode, box, score)], gts {episode: (n, 4)}; greedy matching by score."""
    dets = sorted(dets, key=lambda d: -d[2])
    used = {k: [False] * len(v) for k, v in gts.items()}
    tp = []
    for ep, box, _ in dets:
        best, best_j = -1.0, -1
        for j, g in enumerate(gts[ep]):
            iw = min(box[2], g[2]) - max(box[0], g[0])
            ih = min(box[3], g[3]) - max(box[1], g[1])
            inter = max(iw, 0) * max(ih, 0)
            union = (box[2] - box[0]) * (box[3] - box[1]) + (g[2] - g[0]) * (g[3] - g[1]) - inter
            if inter / union > best:
                best, best_j = inter / union, j
        if best >= iou_thr and not used[ep][best_j]:
            used[ep][best_j] = True
            tp.append(1)
        else:
            tp.append(0)
    num_gt = sum(len(v) for v in gts.values())
    ap, prev_r = 0.0, 0.0
    tps = np.cumsum(tp)
    recalls = tps / num_gt
    precisions = tps / np.arange(1, len(tp) + 1)
    for k in range(len(tp)):
        if recalls[k] > prev_r:  # area under the interpolated (max-to-the-right) precision curve
            ap += (recalls[k] - prev_r) * precisions[k:].max()
            prev_r = recalls[k]
    return ap


def metric_sample(cls, gt, boxes, scores):
    return dict(episode_class=cls, img_path='x.jpg',
                gt_instances=dict(bboxes=torch.tensor(gt, dtype=torch.float32).reshape(-1, 4),
                                  labels=torch.zeros(len(gt), dtype=torch.long)),
                ignored_instances=dict(bboxes=torch.zeros(0, 4), labels=torch.zeros(0, dtype=torch.long)),
                pred_instances=dict(bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                                    scores=torch.tensor(scores, dtype=torch.float32),
                                    labels=torch.zeros(len(scores), dtype=torch.long)))


def evaluate(samples, **kwargs):
    metric = METRICS.build(dict(type='OneShotMetric', **kwargs))
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


def test_metric_perfect_and_shifted_on_real_episodes(unseen_coco):
    perfect, shifted = [], []
    for idx in range(len(unseen_coco)):
        sample = unseen_coco[idx]['data_samples']
        gt = sample.gt_instances.bboxes.tensor.numpy()
        cls = sample.metainfo['episode_class']
        perfect.append(metric_sample(cls, gt, gt, np.ones(len(gt))))
        w = gt[:, 2] - gt[:, 0]
        moved = gt + np.stack([w, np.zeros_like(w), w, np.zeros_like(w)], 1) * (0.7 if cls == 'dog' else 0.1)
        shifted.append(metric_sample(cls, gt, moved, np.ones(len(gt))))
    good = evaluate(perfect)
    assert good['AP50'] == pytest.approx(1.0)
    assert all(good[f'AP50_{c.replace(" ", "_")}'] == pytest.approx(1.0) for c in UNSEEN)
    bad = evaluate(shifted)
    assert bad['AP50_dog'] == pytest.approx(0.0)  # shifted by 0.7 box widths: IoU < 0.5
    assert bad['AP50_bus'] == pytest.approx(1.0)  # 0.1 widths: IoU 0.82
    assert bad['AP50'] < 1.0
    assert set(evaluate(perfect, classes=['dog', 'bus'])) == {'AP50', 'AP50_dog', 'AP50_bus'}


def test_metric_matches_brute_force_ap():
    rng = np.random.RandomState(3)
    samples, per_class = [], defaultdict(lambda: ([], {}))
    for ep in range(12):
        cls = ['cat', 'cow'][ep % 2]
        xy = rng.uniform(0, 80, (rng.randint(1, 4), 2))
        gt = np.concatenate([xy, xy + rng.uniform(10, 30, xy.shape)], 1)
        noisy = np.concatenate([gt + rng.normal(0, 4, gt.shape), rng.uniform(0, 60, (2, 2)).repeat(2, 1) +
                                np.array([0, 0, 15, 15])])
        scores = rng.uniform(0.05, 1.0, len(noisy)).round(4)
        samples.append(metric_sample(cls, gt, noisy, scores))
        dets, gts = per_class[cls]
        gts[ep] = gt
        dets.extend((ep, b, s) for b, s in zip(noisy, scores))
    result = evaluate(samples)
    expected = {c: brute_force_ap(*per_class[c]) for c in ('cat', 'cow')}
    assert 0.1 < expected['cat'] < 0.99 and 0.1 < expected['cow'] < 0.99
    assert result['AP50_cat'] == pytest.approx(expected['cat'], abs=1e-5)
    assert result['AP50_cow'] == pytest.approx(expected['cow'], abs=1e-5)
    assert result['AP50'] == pytest.approx(np.mean(list(expected.values())), abs=1e-5)


def test_metric_errors():
    with pytest.raises(KeyError, match='no episode_class'):
        evaluate([{k: v for k, v in metric_sample('a', [[0, 0, 1, 1]], [], []).items() if k != 'episode_class'}])
    with pytest.raises(ValueError, match=r"no episode of class\(es\) \['dog'\]"):
        evaluate([metric_sample('cat', [[0, 0, 5, 5]], [[0, 0, 5, 5]], [1.0])], classes=['dog'])
    with pytest.raises(ValueError, match='iou_thr'):
        METRICS.build(dict(type='OneShotMetric', iou_thr=1.5))


# -------------------------------------------------------------------------------------------------------- model
def tiny_model_cfg():
    cfg = Config.fromfile(CONFIG)
    d = 32
    attn = dict(embed_dims=d, num_heads=4, attn_drop=0.0, proj_drop=0.0)
    ffn = dict(embed_dims=d, feedforward_channels=64, ffn_drop=0.0)
    cfg.merge_from_dict(dict(model=dict(
        num_queries=8, backbone=dict(init_cfg=None, frozen_stages=-1), neck=dict(out_channels=d),
        encoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=dict(embed_dims=d, num_heads=4, dropout=0.0),
                                                  ffn_cfg=ffn)),
        decoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn)),
        positional_encoding=dict(num_feats=d // 2), bbox_head=dict(embed_dims=d),
        patch_encoder=dict(mask_ratio=0.0), test_cfg=dict(max_per_img=8))))
    return cfg


def test_shipped_configs():
    cfg = Config.fromfile(CONFIG)
    assert cfg.model.type == 'UPCondDETR' and cfg.model.patch_encoder.num_patches == 1
    assert cfg.model.bbox_head.loss_feature is None and cfg.model.bbox_head.num_classes == 1
    assert cfg.load_from.endswith('up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd/epoch_20.pth')
    assert cfg.train_dataloader.dataset.classes == 'seen' and cfg.test_dataloader.dataset.classes == 'unseen'
    assert cfg.train_dataloader.dataset.unseen_classes == UNSEEN
    assert cfg.test_evaluator.type == 'OneShotMetric'
    voc = Config.fromfile(VOC_CONFIG)
    assert voc.model.type == 'UPDETR' and voc.model.patch_encoder.num_patches == 1
    assert voc.train_dataloader.dataset.split == voc.test_dataloader.dataset.split == 'voc'
    assert voc.custom_hooks == []  # the backbone is fine-tuned
    model = MODELS.build(Config.fromfile(CONFIG).model)
    assert model.patch_encoder.num_patches == 1 and not hasattr(model.bbox_head, 'feature_align')
    # load_from = the raw pre-training checkpoint: every one-shot weight is in it with the same shape
    pretrain_cfg = Config.fromfile(PRETRAIN_CONFIG).model
    pretrain_cfg.backbone.init_cfg = None
    pretrained = MODELS.build(pretrain_cfg).state_dict()
    mine = model.state_dict()
    assert set(mine) <= set(pretrained)
    assert all(mine[k].shape == pretrained[k].shape for k in mine)
    assert {k.split('.')[1] for k in set(pretrained) - set(mine)} == {'feature_align'}


def test_tiny_model_trains_on_seen_and_predicts_on_unseen_episodes():
    cfg = tiny_model_cfg()
    small = [dict(type='DetrxLoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
             dict(type='Resize', scale=(128, 96), keep_ratio=True), dict(type='PackOneShotInputs')]
    train = episodes(coco128(pipeline=small), classes='seen', unseen_classes=UNSEEN, test_mode=True)
    test = episodes(coco128(pipeline=small, test_mode=True), classes='unseen', unseen_classes=UNSEEN)
    assert test.test_mode
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    optim = torch.optim.AdamW(model.parameters(), lr=2e-4)
    batch = pseudo_collate([train[1], train[2]])
    losses = []
    for _ in range(4):
        data = model.data_preprocessor(copy.deepcopy(batch), True)
        loss_dict = model.loss(data['inputs'], data['data_samples'])
        assert 'loss_feature' not in loss_dict and {'loss_cls', 'loss_bbox', 'loss_iou'} <= set(loss_dict)
        loss = sum(v for k, v in loss_dict.items() if 'loss' in k)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(float(loss))
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    model.eval()
    with torch.no_grad():
        out = model.test_step(pseudo_collate([test[0], test[1]]))
    for sample in out:
        pred = sample.pred_instances
        assert pred.bboxes.shape == (8, 4) and (pred.labels == 0).all()
        assert sample.metainfo['episode_class'] in UNSEEN
    metric = METRICS.build(dict(type='OneShotMetric'))
    metric.process({}, [s.to_dict() for s in out])
    assert 0.0 <= metric.compute_metrics(metric.results)['AP50'] <= 1.0
