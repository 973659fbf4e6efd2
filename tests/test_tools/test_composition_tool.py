"""tools/benchmark.py composition: the short-run options it gives tools/train.py (the runs themselves are too long
for the tests; docs/results/composition.json holds a recorded run)."""
import json
import os.path as osp

from ..conftest import REPO

from tools.bench.composition import _indices_options, _short_run


def test_short_run_keeps_the_first_images_of_every_concatenated_dataset():
    assert _indices_options('configs/detr/detr_lite0_1xb2-14e_bccd.py', 40) == ['train_dataloader.dataset.indices=40']
    metr = _indices_options('configs/metr/metr_lite0_1xb2-12e_coco128-bccd.py', 64)
    assert len(metr) == 2 and all(o.endswith('.indices=32') for o in metr)
    options = _short_run('configs/up_detr/up-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py', 64, 3)
    assert 'train_cfg.max_epochs=1' in options and 'randomness.seed=3' in options


def test_recorded_results_cover_every_cell_with_a_config():
    from mmdet_detrx.utils.composition import cells
    with open(osp.join(REPO, 'docs', 'results', 'composition.json')) as f:
        recorded = json.load(f)
    assert not recorded['failed']
    names = {r['cell'] for r in recorded['records']}
    assert names == {c.name for c in cells()}
    for record in recorded['records']:
        assert record['iterations'] == recorded['iters']
        assert record['loss_last5'] > 0 and record['loss_first5'] > 0
