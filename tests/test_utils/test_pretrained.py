"""Pre-trained weights: the check before training names the config key, the checkpoint and the ways out."""
import importlib.util

import pytest
from mmengine.config import Config

from mmdet_detrx.utils.pretrained import PretrainedWeightsError, check_pretrained_weights, iter_init_checkpoints

from ..conftest import REPO, assert_ok, run_cmd

R50 = f'{REPO}/configs/conditional_detr/conditional-detr_r50_8xb2-50e_coco.py'
LITE0 = f'{REPO}/configs/conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py'


def _without_torchvision(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'torchvision' else real(name, *a))


def test_iter_init_checkpoints_walks_nested_dicts_and_lists():
    model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='a.pth')),
                 heads=[dict(init_cfg=[dict(type='Xavier'), dict(type='Pretrained', checkpoint='b.pth')])],
                 neck=dict(init_cfg=None))
    assert list(iter_init_checkpoints(model)) == [('model.backbone.init_cfg', 'a.pth'),
                                                  ('model.heads.0.init_cfg', 'b.pth')]


def test_torchvision_without_torchvision_is_a_clear_error(monkeypatch):
    _without_torchvision(monkeypatch)
    with pytest.raises(PretrainedWeightsError) as err:
        check_pretrained_weights(Config.fromfile(R50))
    msg = str(err.value)
    for part in ('model.backbone.init_cfg', "'torchvision://resnet50'", 'torchvision is not installed',
                 'resnet50-0676ba61.pth', '--cfg-options model.backbone.init_cfg=None', 'lite0'):
        assert part in msg, (part, msg)


def test_missing_local_file_and_missing_package(tmp_path):
    cfg = Config(dict(model=dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'x.pth'))),
                                 neck=dict(init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite://lite9')))))
    with pytest.raises(PretrainedWeightsError) as err:
        check_pretrained_weights(cfg)
    assert 'model.backbone.init_cfg' in str(err.value) and 'no such file' in str(err.value)
    assert 'model.neck.init_cfg' in str(err.value) and 'unknown EfficientNet-Lite arch' in str(err.value)


def test_offline_lite0_config_passes():
    assert check_pretrained_weights(Config.fromfile(LITE0)) == ['efficientnet-lite://lite0']


@pytest.mark.skipif(importlib.util.find_spec('torchvision') is not None, reason='torchvision is installed here')
def test_train_tool_stops_before_training_with_the_message(tmp_path):
    proc = run_cmd(['python', 'tools/train.py', R50, '--work-dir', str(tmp_path)])
    assert proc.returncode != 0
    assert 'model.backbone.init_cfg' in proc.stderr and 'Ways out' in proc.stderr, proc.stderr[-2000:]
    assert 'ModuleNotFoundError' not in proc.stderr
    assert not list(tmp_path.glob('*/vis_data')), 'the runner must not have started'


def test_train_tool_lists_configs():
    proc = run_cmd(['python', 'tools/train.py', '--list'])
    assert_ok(proc)
    assert 'co_detr/co-dino_lite0_1xb2-14e_bccd.py' in proc.stdout.split()
