"""The co-detr and co-detr-inference benchmark subcommands: what they check and patch."""
import copy
import importlib

import pytest
import torch
from mmengine.config import Config

import mmdet_detrx  # noqa: F401  (registers the modules)
from tests.test_models.test_co_detr.helpers import co_cond_detr_cfg, co_detr_cfg, make_batch


def _bench_module(name):
    return importlib.import_module(f'tools.bench.{name}')


@pytest.mark.parametrize('make_cfg', [lambda: co_detr_cfg('all'), lambda: co_cond_detr_cfg('atss')],
                         ids=['co-dino', 'co-conditional-detr'])
def test_inference_benchmark_core_detections_identical(make_cfg):
    bench = _bench_module('co_detr_inference')
    cfg = Config(dict(model=make_cfg())).model
    cfg.query_head.test_cfg.nms = dict(type='soft_nms', iou_threshold=0.8)  # removed for the comparison
    inputs, samples = make_batch()
    result = bench.compare_inference(cfg, inputs, samples, repeats=1, warmup=0)
    assert result['identical'] and min(result['num_detections']) > 0
    assert set(result['times']) == {'co-detr', 'base'} and all(len(t) == 1 for t in result['times'].values())
    # the check has teeth: other weights give other detections
    co, base = bench.build_pair(cfg, seed=0)
    _, other = bench.build_pair(cfg, seed=1)
    with torch.no_grad():
        a = co.predict(inputs, copy.deepcopy(samples))
        b = other.predict(inputs, copy.deepcopy(samples))
    assert not bench.same_detections(a, b)


def test_training_benchmark_checks_source_and_patches_only_cuda_indices(tmp_path):
    bench = _bench_module('co_detr')
    with pytest.raises(SystemExit, match='not a directory'):
        bench.find_reference(str(tmp_path / 'missing'))
    with pytest.raises(SystemExit, match='lacks projects/CO-DETR'):
        bench.find_reference(str(tmp_path))
    source = ('x = 1\n'
              'idx = torch.randperm(\n    pos_inds.shape[0])[:max_num_coords].cuda()\n'
              'other = torch.randperm(neg_inds.shape[0])[:padding_shape].cuda()\n')
    patched, changes = bench.patch_for_cpu(source)
    assert len(changes) == 2 and '.cuda()' not in patched
    assert 'torch.randperm(\n    pos_inds.shape[0])[:max_num_coords].to(pos_inds.device)' in patched
    assert patched.startswith('x = 1\n')
