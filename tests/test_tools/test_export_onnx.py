"""ONNX export of DETR-family detectors (tools/deploy/export_onnx.py, mmdet_detrx.deploy): tiny models, CPU.

Each export is checked against PyTorch with onnxruntime on real coco128 images (atol 1e-4, index by index) and
for default-domain ops only (no mmcv custom op).
"""
import copy
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.runner import save_checkpoint

import mmdet_detrx  # noqa: F401  (registers the modules)
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmdet_detrx.deploy.onnx_export import (DetrOnnxWrapper, UnsupportedModelError, compare_outputs,
                                            exportable_parts, export_onnx, graph_op_types, verify_onnx)
from mmdet_detrx.deploy.preprocess import boxes_to_original, preprocess_image
from tests.conftest import REPO, TINY_CONFIG, assert_ok, run_cmd
from tests.test_models.test_co_detr.helpers import co_detr_cfg

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')
register_all_modules(init_default_scope=True)

TOOL = osp.join(REPO, 'tools', 'deploy', 'export_onnx.py')
IMAGES = [osp.join(REPO, 'data', 'coco128', 'train2017', f) for f in ('000000000009.jpg', '000000000025.jpg')]
SHAPE = (96, 128)
ATOL = 1e-4


@pytest.fixture(autouse=True)
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(model_cfg, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    return model.eval()


def tiny_cond_detr_cfg():
    return Config.fromfile(TINY_CONFIG).model


def tiny_mmdet_detr_cfg():
    """mmdet's own DETR (DetrTransformerEncoder/Decoder, softmax DETRHead), 1+1 layers, 64-d, 10 queries."""
    d = 64
    attn = dict(embed_dims=d, num_heads=4, dropout=0.0, batch_first=True)
    ffn = dict(embed_dims=d, feedforward_channels=128, num_fcs=2, ffn_drop=0.0, act_cfg=dict(type='ReLU'))
    return dict(
        type='DETR', num_queries=10,
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                               bgr_to_rgb=True, pad_size_divisor=1),
        backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ), frozen_stages=-1,
                      norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, init_cfg=None),
        neck=dict(type='ChannelMapper', in_channels=[512], kernel_size=1, out_channels=d, act_cfg=None,
                  norm_cfg=None, num_outs=1),
        encoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=attn, ffn_cfg=ffn)),
        decoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn),
                     return_intermediate=True),
        positional_encoding=dict(num_feats=d // 2, normalize=True),
        bbox_head=dict(type='DETRHead', num_classes=80, embed_dims=d,
                       loss_cls=dict(type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False, loss_weight=1.0,
                                     class_weight=1.0),
                       loss_bbox=dict(type='L1Loss', loss_weight=5.0), loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
        train_cfg=dict(assigner=dict(type='HungarianAssigner', match_costs=[
            dict(type='ClassificationCost', weight=1.), dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0)])),
        test_cfg=dict(max_per_img=10))


def export_and_verify(model, tmp_path, shape=SHAPE, skip_nms=False):
    """Exports, checks the ops and the outputs' shapes, and returns verify_onnx's rows on the 2 images."""
    wrapper = DetrOnnxWrapper(model, shape, skip_nms=skip_nms)
    path = export_onnx(wrapper, str(tmp_path / 'model.onnx'))
    ops = graph_op_types(path)
    assert not [op for op in ops if '::' in op], ops  # default ONNX domain only
    assert 'TopK' in ops
    rows = verify_onnx(model, path, IMAGES, shape, atol=ATOL)
    assert len(rows) == 2
    for row in rows:
        assert row['ok'], row
        assert row['boxes'] <= ATOL and row['scores'] <= ATOL and row['labels'] == 0
    return wrapper, path, ops, rows


def test_tiny_conditional_detr_export_matches_pytorch(tmp_path):
    model = build(tiny_cond_detr_cfg())
    _, path, _, _ = export_and_verify(model, tmp_path)
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    assert [i.name for i in sess.get_inputs()] == ['images']
    assert sess.get_inputs()[0].shape == [1, 3, *SHAPE]
    x = np.zeros((1, 3, *SHAPE), np.float32)
    boxes, scores, labels = sess.run(None, {'images': x})
    assert boxes.shape == (1, 10, 4) and scores.shape == (1, 10) and labels.shape == (1, 10)
    assert labels.dtype == np.int64
    assert (boxes[..., 0::2] <= SHAPE[1]).all() and (boxes[..., 1::2] <= SHAPE[0]).all() and (boxes >= 0).all()
    assert np.all(np.diff(scores[0]) <= 0)  # top-k order

    # a changed PyTorch model no longer matches the graph: verify reports it
    with torch.no_grad():
        model.bbox_head.fc_cls.bias.add_(0.5)
    assert not any(row['ok'] for row in verify_onnx(model, path, IMAGES, SHAPE, atol=ATOL))


def test_tiny_mmdet_detr_export_matches_pytorch(tmp_path):
    model = build(tiny_mmdet_detr_cfg())
    assert type(model).__name__ == 'DETR'
    _, _, ops, _ = export_and_verify(model, tmp_path)
    assert 'Softmax' in ops


def test_tiny_co_dino_detr_branch_export_matches_pytorch(tmp_path):
    cfg = co_detr_cfg(aux='atss')
    cfg['query_head']['num_queries'] = 10
    cfg['query_head']['test_cfg'] = dict(max_per_img=10, nms=dict(type='soft_nms', iou_threshold=0.8))
    model = build(cfg)
    assert type(model).__name__ == 'DetrxCoDETR' and type(model.query_head).__name__ == 'DINO'
    with pytest.raises(UnsupportedModelError, match='test_cfg.nms.*--skip-nms'):
        exportable_parts(model)
    _, _, ops, _ = export_and_verify(model, tmp_path, shape=(128, 128), skip_nms=True)
    assert 'GridSample' in ops  # deformable attention in plain PyTorch ops


def test_unsupported_models_raise_naming_the_part():
    up_cfg = Config.fromfile(osp.join(REPO, 'configs', 'up_detr', 'up-detr_r18_1xb4-20e_pretrain-coco128-bccd.py'))
    up_cfg.model.backbone.init_cfg = None
    with pytest.raises(UnsupportedModelError, match='UPDETR.*pre-training.*query patches'):
        exportable_parts(MODELS.build(up_cfg.model))
    two_stage = dict(
        type='FasterRCNN',
        backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ), init_cfg=None),
        rpn_head=dict(type='RPNHead', in_channels=512, feat_channels=32,
                      anchor_generator=dict(type='AnchorGenerator', scales=[8], ratios=[1.0], strides=[32]),
                      bbox_coder=dict(type='DeltaXYWHBBoxCoder')),
        roi_head=dict(type='StandardRoIHead',
                      bbox_roi_extractor=dict(type='SingleRoIExtractor', out_channels=512, featmap_strides=[32],
                                              roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0)),
                      bbox_head=dict(type='Shared2FCBBoxHead', in_channels=512, fc_out_channels=32, num_classes=3)),
        train_cfg=None, test_cfg=dict(rpn=dict(nms_pre=10, max_per_img=10, nms=dict(type='nms', iou_threshold=0.7)),
                                      rcnn=dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5),
                                                max_per_img=10)))
    with pytest.raises(UnsupportedModelError, match='FasterRCNN.*two-stage RoI detector'):
        exportable_parts(MODELS.build(ConfigDict(two_stage)))
    retina = dict(type='RetinaNet', backbone=two_stage['backbone'],
                  neck=dict(type='ChannelMapper', in_channels=[512], kernel_size=1, out_channels=32, num_outs=1),
                  bbox_head=dict(type='RetinaHead', num_classes=3, in_channels=32, feat_channels=32,
                                 anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                                       scales_per_octave=1, ratios=[1.0], strides=[32]),
                                 bbox_coder=dict(type='DeltaXYWHBBoxCoder')))
    with pytest.raises(UnsupportedModelError, match='detector RetinaNet .*cannot be exported: supported'):
        exportable_parts(MODELS.build(ConfigDict(retina)))
    with_mask = build(tiny_cond_detr_cfg())
    with_mask.mask_head = torch.nn.Identity()  # a segmentation branch on a supported detector
    with pytest.raises(UnsupportedModelError, match='`mask_head`: mask outputs cannot be exported'):
        exportable_parts(with_mask)
    own_postprocess = build(tiny_cond_detr_cfg())

    class NMSHead(type(own_postprocess.bbox_head)):  # a head subclass that does not say it keeps the top-k
        detr_topk_postprocess = False
    own_postprocess.bbox_head.__class__ = NMSHead
    with pytest.raises(UnsupportedModelError, match='NMSHead .*has its own post-processing'):
        exportable_parts(own_postprocess)


def test_compare_outputs_allows_reordered_score_ties_only():
    boxes = torch.tensor([[[0., 0., 10., 10.], [5., 5., 20., 20.], [1., 2., 3., 4.]]])
    scores = torch.tensor([[0.9, 0.5, 0.5]])
    labels = torch.tensor([[1, 2, 2]])
    ref = (boxes, scores, labels)
    swap = [0, 2, 1]  # the two detections with tied scores in the other order
    diffs = compare_outputs((boxes[:, swap].numpy(), scores[:, swap].numpy(), labels[:, swap].numpy()), ref)
    assert diffs['boxes'] == 0 and diffs['labels'] == 0 and diffs['reordered'] == 2 and diffs['matched'] == 1
    swap = [1, 0, 2]  # different scores: a real mismatch
    diffs = compare_outputs((boxes[:, swap].numpy(), scores[:, swap].numpy(), labels[:, swap].numpy()), ref)
    assert diffs['boxes'] == 10 and diffs['scores'] == pytest.approx(0.4) and diffs['labels'] == 2
    assert diffs['matched'] == pytest.approx(1 / 3)


def test_compare_outputs_box_tolerance_is_separate_from_scores():
    """verify_onnx scales the box tolerance with the input size (float32 rounding at 512 px coordinates is ~1e-4 px:
    a smoke-trained graph failed the fixed 1e-4 px): boxes within box_tol match, scores keep tie_tol."""
    boxes = torch.tensor([[[100., 200., 300., 400.]]])
    ref = (boxes, torch.tensor([[0.5]]), torch.tensor([[1]]))
    near = (boxes.numpy() + 1.2e-4, np.array([[0.5]], np.float32), np.array([[1]]))
    assert compare_outputs(near, ref)['matched'] == 0  # 1.2e-4 px > the default box_tol = tie_tol = 1e-4
    assert compare_outputs(near, ref, box_tol=1e-4 * 512)['matched'] == 1
    far_score = (boxes.numpy(), np.array([[0.5003]], np.float32), np.array([[1]]))
    assert compare_outputs(far_score, ref, box_tol=1e-4 * 512)['matched'] == 0


def test_preprocess_matches_config_pipeline():
    """The numpy helper reproduces the test pipeline's Resize(keep_ratio) + DetDataPreprocessor on an image."""
    import cv2
    from mmdet.datasets.transforms import Resize
    img = cv2.imread(IMAGES[0])  # 640 x 480 landscape
    x, meta = preprocess_image(img, (96, 128), mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
    resized = Resize(scale=(128, 96), keep_ratio=True)(dict(img=img))
    ref = (resized['img'][..., ::-1].astype(np.float32) - [123.675, 116.28, 103.53]) / [58.395, 57.12, 57.375]
    h, w = resized['img'].shape[:2]
    assert meta['img_shape'] == (h, w)
    np.testing.assert_allclose(x[0, :, :h, :w].transpose(1, 2, 0), ref, atol=1e-5)
    assert (x[0, :, h:, :] == 0).all() and (x[0, :, :, w:] == 0).all()
    np.testing.assert_allclose(boxes_to_original(np.array([[0., 0., w, h]]), meta), [[0, 0, 640, 480]], atol=1.0)


def test_cli_exports_and_verifies_tiny_conditional_detr(tmp_path):
    ckpt = str(tmp_path / 'tiny.pth')
    save_checkpoint(build(tiny_cond_detr_cfg(), seed=1).state_dict(), ckpt)
    out = str(tmp_path / 'sub' / 'tiny.onnx')
    proc = run_cmd([
        'python', TOOL, TINY_CONFIG, ckpt, '--out', out, '--verify'], env=dict(OMP_NUM_THREADS='1'))
    assert_ok(proc)
    assert osp.getsize(out) > 1e6
    assert 'input images (1, 3, 96, 128)' in proc.stdout  # shape from the test pipeline's Resize (128, 96)
    assert proc.stdout.count('-> ok') == 2 and 'verify passed' in proc.stdout



def test_cli_unsupported_config_exits_2_naming_the_model(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location('export_onnx_tool', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    ckpt = tmp_path / 'any.pth'
    ckpt.write_bytes(b'')  # never loaded: the model is rejected first
    up = osp.join(REPO, 'configs', 'up_detr', 'up-detr_r18_1xb4-20e_pretrain-coco128-bccd.py')
    assert tool.main([up, str(ckpt), '--out', str(tmp_path / 'up.onnx')]) == 2
    assert 'UP-DETR pre-training model' in capsys.readouterr().err
    assert not (tmp_path / 'up.onnx').exists()


def test_benchmark_onnx_times_and_evaluates_the_shipped_detector():
    """tools/benchmark.py onnx on the shipped DINO-Lite0 and 4 BCCD test images: eager, float and int8 graphs timed
    on the same input, the ratio line is the int8 median over the eager one, and the float graph scores the same
    VOC mAP as eager PyTorch (same detections)."""
    proc = run_cmd(['python', 'tools/benchmark.py', 'onnx', 'configs/dino/dino_lite0_1xb2-14e_bccd.py',
                    'checkpoints/dino_lite0_bccd_co-dino-14e.pth', '--repeats', '2', '--warmup', '0',
                    '--quantize', 'dynamic', '--eval', '4', '--threads', '1'], env={'OMP_NUM_THREADS': '1'})
    assert_ok(proc)
    lines = proc.stdout.strip().splitlines()

    def table(header_start):
        start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
        keys = [k.strip() for k in lines[start].split('|')[2:-1]]
        rows = {}
        for line in lines[start + 2:]:
            if not line.startswith('| '):
                break
            cells = line.split('|')
            values = [c.strip().rstrip('%') for c in cells[2:-1]]
            rows[cells[1].strip()] = dict(zip(keys, (None if v == '-' else float(v) for v in values)))
        return rows

    timing = table('| run | median ms')
    medians = {name: timing[name]['median ms'] for name in ('eager', 'onnxruntime', 'onnxruntime int8')}
    assert lines[-1].startswith('ratio=')
    assert float(lines[-1][len('ratio='):]) == pytest.approx(medians['onnxruntime int8'] / medians['eager'],
                                                             abs=2e-3)
    assert any(line.startswith('load average before') for line in lines)
    metrics = table('| run | pascal_voc')
    maps = {name: metrics[name]['pascal_voc/mAP'] for name in medians}
    assert maps['eager'] > 0.5
    assert maps['onnxruntime'] == pytest.approx(maps['eager'], abs=0.005)
    assert abs(maps['onnxruntime int8'] - maps['eager']) < 0.05
