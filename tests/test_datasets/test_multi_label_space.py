"""MultiLabelSpaceDataset / MultiLabelSpaceMetric on the vendored coco128 and BCCD data."""
import os.path as osp
import pickle

import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.runner import Runner

import mmdet_detrx  # noqa: F401
from mmdet.registry import DATASETS, METRICS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.utils import register_all_modules
from mmdet_detrx.datasets import MultiLabelSpaceDataset, label_space_of
from tests.conftest import REPO

register_all_modules(init_default_scope=True)

CFG_DIR = osp.join(REPO, 'configs', '_base_', 'datasets')
BCCD_CLASSES = ('RBC', 'WBC', 'Platelets')


def _cfg(name):
    return Config.fromfile(osp.join(CFG_DIR, name))


@pytest.fixture(scope='module')
def joint_cfg():
    return _cfg('metr_coco128-bccd.py')


@pytest.fixture(scope='module')
def joint_val(joint_cfg):
    return DATASETS.build(joint_cfg.val_dataloader.dataset)


def _bccd(**kw):
    """A lazily built BCCD val dataset config (nothing is read until full_init)."""
    cfg = dict(_cfg('metr_bccd_parts.py').bccd_val_dataset)
    cfg.update(lazy_init=True, **kw)
    return cfg


# ----------------------------------------------------------------------------------------------- dataset
def test_configs_build_with_expected_sizes_and_label_spaces():
    expected = {
        'metr_coco128-bccd.py': dict(train=(126, 205), val=(128, 87), test=(128, 72)),
        'metr_coco128.py': dict(val=(128,)),  # its other splits: the joint config's datasets (checked below)
        'metr_bccd.py': dict(test=(72,)),
    }
    for name, splits in expected.items():
        cfg = _cfg(name)
        for split, sizes in splits.items():
            ds = DATASETS.build(cfg[f'{split}_dataloader'].dataset)
            assert isinstance(ds, MultiLabelSpaceDataset)
            assert [len(d) for d in ds.datasets] == list(sizes)
            assert len(ds) == sum(sizes), (name, split)
            assert ds.label_spaces == cfg.metr_label_spaces
        assert set(cfg.metr_class_embeddings) == set(cfg.metr_label_spaces)
        assert all(osp.isfile(p) for p in cfg.metr_class_embeddings.values())
    joint = _cfg('metr_coco128-bccd.py')
    assert joint.coco128_img_scale == joint.bccd_img_scale  # one image scale for both datasets
    # the single-dataset configs use exactly the per-dataset configs of the joint one
    for space, single in (('coco128', 'metr_coco128.py'), ('bccd', 'metr_bccd.py')):
        k = joint.metr_label_spaces.index(space)
        for split in ('train', 'val', 'test'):
            assert _cfg(single)[f'{split}_dataloader'].dataset.datasets[0] == \
                joint[f'{split}_dataloader'].dataset.datasets[k]
        assert _cfg(single).val_evaluator.metrics[space] == joint.val_evaluator.metrics[space]


def test_metainfo(joint_val):
    meta = joint_val.metainfo
    assert meta['label_spaces']['bccd'] == BCCD_CLASSES
    assert len(meta['label_spaces']['coco128']) == 80 and meta['label_spaces']['coco128'][0] == 'person'
    assert meta['dataset_metas']['bccd']['classes'] == BCCD_CLASSES
    assert meta['dataset_metas']['coco128'] == joint_val.datasets[0].metainfo
    assert len(meta['classes']) == 83
    assert meta['classes'][0] == 'coco128:person' and meta['classes'][80:] == tuple(f'bccd:{c}' for c in BCCD_CLASSES)
    meta['label_spaces']['bccd'] = ()  # a copy: the dataset is unchanged
    assert joint_val.metainfo['label_spaces']['bccd'] == BCCD_CLASSES


@pytest.mark.parametrize('idx', [0, 127, 128, 128 + 86, -1])
def test_items_match_the_child_dataset(joint_val, idx):
    n_coco = len(joint_val.datasets[0])
    gidx = idx % len(joint_val)
    k, local = (0, gidx) if gidx < n_coco else (1, gidx - n_coco)
    space = ('coco128', 'bccd')[k]
    assert joint_val.locate(idx) == (k, local) and joint_val.get_data_info(idx)['label_space'] == space
    item, own = joint_val[idx], joint_val.datasets[k][local]
    sample, own_sample = item['data_samples'], own['data_samples']
    assert sample.metainfo['label_space'] == space and label_space_of(sample) == space
    assert 'label_space' not in own_sample.metainfo
    assert sample.metainfo['img_path'] == own_sample.metainfo['img_path']
    assert torch.equal(item['inputs'], own['inputs'])
    assert torch.equal(sample.gt_instances.labels, own_sample.gt_instances.labels)  # local ids, unchanged
    assert torch.allclose(sample.gt_instances.bboxes.tensor, own_sample.gt_instances.bboxes.tensor)
    assert int(sample.gt_instances.labels.max()) < len(joint_val.metainfo['label_spaces'][space])
    info = joint_val.get_data_info(idx)
    assert info.pop('label_space') == space
    assert info == joint_val.datasets[k].get_data_info(local)


def test_bccd_labels_are_local(joint_val):
    labels = set()
    for i in range(128, 128 + 20):
        info = joint_val.get_data_info(i)
        assert info['label_space'] == 'bccd'
        labels |= {ins['bbox_label'] for ins in info['instances']}
    assert labels == {0, 1, 2}


def test_index_out_of_range(joint_val):
    with pytest.raises(IndexError, match='215'):
        joint_val[len(joint_val)]
    with pytest.raises(IndexError, match=f'index {-len(joint_val) - 1} out of range for MultiLabelSpaceDataset'):
        joint_val.get_data_info(-len(joint_val) - 1)


def test_lazy_init():
    ds = MultiLabelSpaceDataset([_bccd(), _bccd(ann_file='ImageSets/Main/test.txt')], ['val', 'test'],
                                     lazy_init=True)
    assert not ds._fully_initialized and ds.metainfo['label_spaces']['test'] == BCCD_CLASSES
    assert len(ds) == 87 + 72 and ds._fully_initialized
    copy = pickle.loads(pickle.dumps(ds))  # as sent to dataloader workers
    assert len(copy) == len(ds) and copy.get_data_info(100) == ds.get_data_info(100)


def test_same_class_names_in_two_label_spaces_are_allowed():
    ds = MultiLabelSpaceDataset([_bccd(), _bccd()], ['bccd_a', 'bccd_b'])
    assert ds.metainfo['label_spaces'] == dict(bccd_a=BCCD_CLASSES, bccd_b=BCCD_CLASSES)
    assert ds[87]['data_samples'].metainfo['label_space'] == 'bccd_b'


def test_mixed_batches_through_aspect_ratio_batch_sampler(joint_cfg):
    loader_cfg = dict(joint_cfg.train_dataloader, batch_size=4, num_workers=0, persistent_workers=False)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    assert type(loader.batch_sampler).__name__ == 'AspectRatioBatchSampler'
    spaces = joint_cfg.train_dataloader.dataset.label_spaces
    n_classes = dict(coco128=80, bccd=3)
    mixed = 0
    for b, batch in enumerate(loader):
        assert len(batch['inputs']) == 4
        got = [label_space_of(s) for s in batch['data_samples']]
        assert set(got) <= set(spaces)
        for s in batch['data_samples']:
            labels = s.gt_instances.labels
            assert len(labels) > 0 and 0 <= int(labels.min()) and int(labels.max()) < n_classes[label_space_of(s)]
        mixed += len(set(got)) == 2
        if mixed >= 2 or b >= 15:
            break
    assert mixed >= 2, f'no batch mixes coco128 and bccd in the first {b + 1} batches'


def test_visualizer_draws_with_wrapper_metainfo(joint_val):
    from mmdet.visualization import DetLocalVisualizer
    vis = DetLocalVisualizer(name='metr_vis_test')
    vis.dataset_meta = joint_val.metainfo
    item = joint_val[128]
    img = item['inputs'].permute(1, 2, 0).numpy()[..., ::-1].copy()
    sample = item['data_samples'].numpy()
    sample.gt_instances.bboxes = sample.gt_instances.bboxes.tensor  # as mmdet's browse_dataset does
    vis.add_datasample('x', img, sample, draw_pred=False, show=False)
    drawn = vis.get_image()
    assert drawn.shape == img.shape and (drawn != img[..., ::-1]).any()


# ----------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize('datasets,names,match', [
    ([_bccd(), _bccd()], ['bccd', 'bccd'], r"duplicate label-space name\(s\) \['bccd'\]"),
    ([_bccd(), _bccd()], ['bccd'], r"1 label-space name\(s\) \['bccd'\] for 2 dataset"),
    ([_bccd()], 'bccd', 'label_spaces must be a list'),
    ([], [], 'non-empty list'),
    ([_bccd(metainfo=dict(classes=()))], ['cells'], "label space 'cells' has no classes"),
    ([_bccd(metainfo=dict(classes=('RBC', 'WBC', 'RBC')))], ['cells'],
     r"label space 'cells' \(BCCDDataset\) lists the class name\(s\) \['RBC'\] more than once"),
])
def test_bad_arguments(datasets, names, match):
    with pytest.raises((ValueError, TypeError), match=match):
        MultiLabelSpaceDataset(datasets, names, lazy_init=True)


def test_empty_dataset_is_named():
    coco = dict(_cfg('metr_coco128_parts.py').coco128_train_dataset, filter_cfg=dict(filter_empty_gt=True,
                                                                                     min_size=100000))
    with pytest.raises(ValueError, match=r"(?s)instances_train2017.json': no training image left after filter_cfg=.*"
                                         r"\(while loading dataset DetrxCocoDataset of label space 'coco128'\)"):
        MultiLabelSpaceDataset([_bccd(), coco], ['bccd', 'coco128'])


def test_label_space_of_without_tag():
    with pytest.raises(KeyError, match="'a.jpg'.*no 'label_space'"):
        label_space_of(DetDataSample(metainfo=dict(img_path='a.jpg')))
    with pytest.raises(KeyError, match='label_space'):
        label_space_of(dict(img_id=3))
    assert label_space_of(dict(label_space='bccd')) == 'bccd'


# ----------------------------------------------------------------------------------------------- metric
# CocoMetric with an ann_file scores over all images of that file: use all 128 coco128 images, 12 BCCD ones.
@pytest.fixture(scope='module')
def eval_samples(joint_val):
    """Global index -> packed DetDataSample of the joint val set (inputs dropped)."""
    idx = list(range(128)) + list(range(128, 140))
    return {i: joint_val[i]['data_samples'] for i in idx}


def _prediction(src, mode):
    """DetDataSample with the gt of ``src`` predicting its gt ('perfect') or gt shifted off the objects."""
    out = DetDataSample(metainfo=src.metainfo)
    out.gt_instances = src.gt_instances
    out.ignored_instances = src.ignored_instances
    pred = src.gt_instances.clone()
    boxes = pred.bboxes.tensor.clone()
    if mode == 'garbage':
        w = boxes[:, 2:3] - boxes[:, 0:1]
        boxes[:, 0::2] += 2 * w + 5
    pred.bboxes = boxes
    pred.scores = torch.ones(len(boxes))
    out.pred_instances = pred
    return out


def _evaluate(cfg_metric, ds, samples, indices, modes, size=None):
    evaluator = Evaluator(cfg_metric)
    evaluator.dataset_meta = ds.metainfo
    preds = [_prediction(samples[i], modes(i)) for i in indices]
    for b in range(0, len(preds), 3):
        evaluator.process(data_samples=preds[b:b + 3], data_batch=None)
    return evaluator.evaluate(size or len(preds))


def test_metric_perfect_and_garbage_predictions(joint_cfg, joint_val, eval_samples):
    idx = list(eval_samples)
    perfect = _evaluate(joint_cfg.val_evaluator, joint_val, eval_samples, idx, lambda i: 'perfect')
    assert perfect['coco128/coco/bbox_mAP'] == pytest.approx(1.0, abs=1e-3), perfect
    assert perfect['bccd/pascal_voc/mAP'] == pytest.approx(1.0, abs=1e-6), perfect
    assert perfect['bccd/pascal_voc/AP50'] == pytest.approx(1.0, abs=1e-6)
    assert not any(k.startswith(('coco/', 'pascal_voc/')) for k in perfect)
    garbage = _evaluate(joint_cfg.val_evaluator, joint_val, eval_samples, idx, lambda i: 'garbage')
    assert garbage['coco128/coco/bbox_mAP'] < 0.05 and garbage['bccd/pascal_voc/mAP'] < 0.05, garbage


def test_metric_equals_child_metric_on_its_own_dataset(joint_cfg, joint_val, eval_samples):
    """Half perfect, half garbage: every space's numbers equal its metric run directly on its dataset."""
    idx = list(eval_samples)
    modes = lambda i: 'perfect' if i % 2 else 'garbage'  # noqa: E731
    # padded like a distributed sampler: the evaluator drops what lies beyond `size`
    joint = _evaluate(joint_cfg.val_evaluator, joint_val, eval_samples, idx + idx[:3], modes, size=len(idx))
    for k, space in enumerate(joint_val.label_spaces):
        metric = METRICS.build(joint_cfg.val_evaluator.metrics[space])
        metric.dataset_meta = joint_val.datasets[k].metainfo
        own = [i for i in idx if joint_val.locate(i)[0] == k]
        metric.process(None, [_prediction(eval_samples[i], modes(i)).to_dict() for i in own])
        direct = metric.evaluate(len(own))
        assert direct and len(joint) > len(direct)
        for key, value in direct.items():
            assert joint[f'{space}/{key}'] == pytest.approx(value, abs=1e-9), key
        assert 0.1 < direct[[k for k in direct if k.endswith('mAP')][0]] < 0.9, direct


def test_runner_builds_the_evaluator(joint_cfg):
    """The Runner reads an evaluator config with a `metrics` key as an Evaluator config: it still works."""
    from mmdet_detrx.evaluation import MultiLabelSpaceMetric
    from mmdet.registry import EVALUATOR
    cfg = joint_cfg.val_evaluator.copy()
    assert 'metrics' in cfg  # Runner.build_evaluator then calls EVALUATOR.build(cfg)
    evaluator = EVALUATOR.build(cfg)
    assert isinstance(evaluator, Evaluator) and len(evaluator.metrics) == 1
    metric = evaluator.metrics[0]
    assert isinstance(metric, MultiLabelSpaceMetric)
    assert type(metric.metrics['coco128']).__name__ == 'CocoMetric'
    assert type(metric.metrics['bccd']).__name__ == 'VOCMetric'


def test_metric_errors(joint_cfg, joint_val):
    voc = joint_cfg.val_evaluator.metrics['bccd']
    only_bccd = dict(type='MultiLabelSpaceMetric', metrics=dict(bccd=voc))
    metric = METRICS.build(only_bccd)
    with pytest.raises(ValueError, match=r"label space\(s\) \['coco128'\] of the dataset have no metric"):
        metric.dataset_meta = joint_val.metainfo
    with pytest.raises(ValueError, match='dataset_metas'):
        metric.dataset_meta = joint_val.datasets[1].metainfo
    metric.dataset_meta = MultiLabelSpaceDataset([_bccd()], ['bccd']).metainfo
    sample = _prediction(joint_val[0]['data_samples'], 'perfect').to_dict()  # a coco128 sample
    with pytest.raises(KeyError, match=r"label space 'coco128' but metrics are given only for \['bccd'\]"):
        metric.process(None, [sample])
    sample.pop('label_space')
    with pytest.raises(KeyError, match='label_space'):
        metric.process(None, [sample])
    with pytest.raises(ValueError, match='non-empty dict'):
        METRICS.build(dict(type='MultiLabelSpaceMetric', metrics=dict()))


# ----------------------------------------------------------------------------------------------- 2 processes
def _gt_sample(ds, i):
    """Prediction/gt sample of item ``i`` built from its annotation dict (no image is read)."""
    from mmengine.structures import InstanceData
    info = ds.get_data_info(i)
    boxes = torch.tensor([ins['bbox'] for ins in info['instances']], dtype=torch.float32).reshape(-1, 4)
    labels = torch.tensor([ins['bbox_label'] for ins in info['instances']], dtype=torch.long)
    ignore = torch.tensor([bool(ins['ignore_flag']) for ins in info['instances']], dtype=torch.bool)
    src = DetDataSample(metainfo=dict(img_id=info['img_id'], label_space=info['label_space'],
                                      ori_shape=(info['height'], info['width'])))
    src.gt_instances = InstanceData(bboxes=HorizontalBoxes(boxes[~ignore]), labels=labels[~ignore])
    src.ignored_instances = InstanceData(bboxes=HorizontalBoxes(boxes[ignore]), labels=labels[ignore])
    return _prediction(src, 'perfect' if i % 3 else 'garbage')


def _two_bccd_spaces():
    ds = MultiLabelSpaceDataset([_bccd(), _bccd(ann_file='ImageSets/Main/test.txt')], ['val', 'test'])
    voc = _cfg('metr_bccd_parts.py').bccd_metric
    return ds, dict(type='MultiLabelSpaceMetric', metrics=dict(val=voc, test=voc))


def _dist_worker(rank, world, port, out_file):
    import json

    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    ds, metric_cfg = _two_bccd_spaces()
    evaluator = Evaluator(metric_cfg)
    evaluator.dataset_meta = ds.metainfo
    n = len(ds)
    padded = list(range(n)) + list(range(-(-n // world) * world - n))  # DefaultSampler(shuffle=False) padding
    for i in padded[rank::world]:
        evaluator.process(data_samples=[_gt_sample(ds, i)])
    out = evaluator.evaluate(n)
    if rank == 0:
        with open(out_file, 'w') as f:
            json.dump(out, f)
    dist.destroy_process_group()


def test_metric_two_processes_gloo_equals_single_process(tmp_path):
    """2 ranks with an odd number of samples (one padded): same numbers as one process."""
    import json
    import socket

    import torch.multiprocessing as mp
    ds, metric_cfg = _two_bccd_spaces()
    assert len(ds) % 2 == 1
    evaluator = Evaluator(metric_cfg)
    evaluator.dataset_meta = ds.metainfo
    for i in range(len(ds)):
        evaluator.process(data_samples=[_gt_sample(ds, i)])
    single = evaluator.evaluate(len(ds))
    assert 0.2 < single['val/pascal_voc/mAP'] < 0.95 and 0.2 < single['test/pascal_voc/mAP'] < 0.95, single
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out_file = str(tmp_path / 'dist.json')
    # fork: the workers inherit the imported modules (spawn would import mmdet again, ~10 s each)
    mp.start_processes(_dist_worker, args=(2, port, out_file), nprocs=2, join=True, start_method='fork')
    with open(out_file) as f:
        dist_out = json.load(f)
    assert dist_out.keys() == single.keys()
    for k, v in single.items():
        assert dist_out[k] == pytest.approx(v, abs=1e-9), k
