"""tools/model_converters/co_detr_to_base.py: a Co-DINO checkpoint runs as the plain DINO with equal predictions."""
import pytest
import torch

from mmdet_detrx.utils.converters.co_detr import convert_co_detr_to_base
from mmdet_detrx.utils.converters.common import ConversionError
from mmdet_detrx.utils.model_build import build_detector

from ..conftest import REPO, assert_ok, run_cmd

CO = f'{REPO}/configs/co_detr/co-dino_lite0_1xb2-14e_bccd.py'
BASE = f'{REPO}/configs/dino/dino_lite0_1xb2-14e_bccd.py'


def _inputs(model, seed=0):
    from mmdet.structures import DetDataSample
    torch.manual_seed(seed)
    sample = DetDataSample(metainfo=dict(img_shape=(96, 128), ori_shape=(96, 128), scale_factor=(1.0, 1.0),
                                         batch_input_shape=(96, 128), pad_shape=(96, 128)))
    return torch.randn(1, 3, 96, 128), [sample]


@pytest.mark.parametrize('half', [False, True])
def test_converted_dino_predicts_like_co_dino(tmp_path, half):
    _, co = build_detector(CO)
    co.eval()
    torch.manual_seed(1)
    for p in co.parameters():  # random, non-trivial weights everywhere
        p.data.normal_(0, 0.05)
    src = tmp_path / 'co.pth'
    torch.save(dict(state_dict=co.state_dict(), meta=dict(epoch=3)), src)
    dst = tmp_path / 'dino.pth'
    cmd = ['python', 'tools/model_converters/co_detr_to_base.py', str(src), str(dst), '--config', BASE]
    assert_ok(run_cmd(cmd + (['--half'] if half else [])))
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['target_type'] == 'DINO' and ckpt['meta']['source_epoch'] == 3
    assert all(v.dtype == (torch.float16 if half else torch.float32)
               for v in ckpt['state_dict'].values() if v.is_floating_point())
    _, dino = build_detector(BASE)
    dino.load_state_dict(ckpt['state_dict'], strict=True)
    dino.eval()
    if half:  # what the base detector sees is the rounded Co-DINO
        co.load_state_dict({k: v.half().float() if v.is_floating_point() else v
                            for k, v in co.state_dict().items()})
    x, samples = _inputs(co)
    with torch.no_grad():
        a = co.predict(x, [s.clone() for s in samples])[0].pred_instances
        b = dino.predict(x, [s.clone() for s in samples])[0].pred_instances
    _assert_same_detections(a, b)


def _assert_same_detections(a, b, tol=1e-4):
    """Equal as sets: Co-DINO runs its CPU deformable attention level by level, DINO mmcv's kernel, so float-level
    differences may swap near-tied scores in the ranking; every detection must have its twin."""
    torch.testing.assert_close(a.scores, b.scores, rtol=0, atol=tol)
    for box, score, label in zip(a.bboxes, a.scores, a.labels):
        twins = (b.labels == label) & ((b.scores - score).abs() <= tol) & \
            ((b.bboxes - box).abs().max(dim=1).values <= 1e-2)
        assert twins.any(), (box, score, label)


def test_refuses_a_non_co_detr_checkpoint_and_a_wrong_base():
    _, dino = build_detector(BASE)
    with pytest.raises(ConversionError, match='not a Co-DETR checkpoint'):
        convert_co_detr_to_base(dino.state_dict(), dino.state_dict())
    _, co = build_detector(CO)
    cond = build_detector(f'{REPO}/configs/conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py')[1]
    with pytest.raises(ConversionError, match='missing:'):
        convert_co_detr_to_base(co.state_dict(), cond.state_dict())
