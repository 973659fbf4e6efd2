"""A checkpoint that does not fit the model is an error in every tool that evaluates, exports or draws it; nothing
runs with half-random weights unless --allow-partial asks for it (and then the mismatch is printed)."""
import pytest
import torch

from mmdet_detrx.utils.model_build import build_detector
from mmdet_detrx.utils.strict_load import CheckpointMismatchError, load_model_weights

from ..conftest import REPO, assert_ok, run_cmd

DETR = f'{REPO}/tests/configs/tiny_detr_coco128.py'
COND = f'{REPO}/tests/configs/tiny_conditional_detr_coco128.py'
IMAGE = f'{REPO}/data/coco128/train2017/000000000009.jpg'


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    out = tmp_path_factory.mktemp('ckpts')
    paths = {}
    for name, config in (('detr', DETR), ('cond', COND)):
        _, model = build_detector(config)
        paths[name] = str(out / f'{name}.pth')
        torch.save(dict(state_dict=model.state_dict(), meta=dict()), paths[name])
    return paths


def test_load_model_weights_lists_the_mismatch(ckpts):
    _, model = build_detector(COND)
    load_model_weights(model, ckpts['cond'])  # its own checkpoint fits
    with pytest.raises(CheckpointMismatchError, match=r'detr\.pth does not fit CondDETR: \d+ missing: .*unexpected'):
        load_model_weights(model, ckpts['detr'])
    notes = []
    load_model_weights(model, ckpts['detr'], allow_partial=True, log=notes.append)
    assert len(notes) == 1 and 'partial load' in notes[0]


def test_test_tool_refuses_another_models_checkpoint(ckpts, tmp_path):
    proc = run_cmd(['python', 'tools/test.py', COND, ckpts['detr'], '--work-dir', str(tmp_path)])
    assert proc.returncode != 0
    assert 'does not fit CondDETR' in proc.stderr and '--allow-partial' in proc.stderr, proc.stderr[-2000:]
    assert 'bbox_mAP' not in proc.stdout + proc.stderr  # nothing was evaluated


def test_export_refuses_and_allow_partial_exports(ckpts, tmp_path):
    out = str(tmp_path / 'm.onnx')
    proc = run_cmd(['python', 'tools/deploy/export_onnx.py', COND, ckpts['detr'], '--out', out])
    assert proc.returncode == 3 and 'does not fit CondDETR' in proc.stderr, proc.stderr[-2000:]
    proc = run_cmd(['python', 'tools/deploy/export_onnx.py', COND, ckpts['detr'], '--out', out, '--allow-partial'])
    assert_ok(proc)
    assert 'partial load' in proc.stdout


def test_draw_refuses_another_models_checkpoint(ckpts, tmp_path):
    proc = run_cmd(['python', 'tools/analysis/draw_predictions.py', COND, ckpts['detr'], IMAGE,
                    '--out-dir', str(tmp_path)])
    assert proc.returncode != 0 and 'CheckpointMismatchError' in proc.stderr
    assert_ok(run_cmd(['python', 'tools/analysis/draw_predictions.py', COND, ckpts['cond'], IMAGE,
                       '--out-dir', str(tmp_path)]))
