"""ONNX export of DETR-family detectors (DETR, Conditional DETR, Deformable DETR / DINO, Co-DETR's DETR branch).

:class:`DetrOnnxWrapper` runs a detector's stages on one fixed-size normalised image without data samples:
``extract_feat`` -> ``forward_transformer`` (with the meta information a fixed, unpadded input implies:
``img_shape == batch_input_shape == (H, W)``, so every padding mask is all-valid and mmdet builds none) ->
the head's forward -> the head's top-k post-processing (that of mmdet's ``DETRHead``) in batched tensor
form. Outputs are ``boxes`` (1, N, 4) xyxy in input pixels, ``scores`` (1, N) and ``labels`` (1, N) (int64), the
model's ``predict(..., rescale=False)`` on the same input. DETR-family models have no NMS: outputs align index
by index with PyTorch.

Deformable attention runs mmcv's pure-PyTorch ``multi_scale_deformable_attn_pytorch`` on CPU (``grid_sample``,
ONNX GridSample from opset 16), so the graph holds default-domain ONNX ops only (:func:`check_default_domain`).
"""
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from mmdet.models.dense_heads import ConditionalDETRHead, DABDETRHead, DeformableDETRHead, DETRHead, DINOHead
from mmdet.models.detectors import DETR, DINO, ConditionalDETR, DeformableDETR, TwoStageDetector
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy

from ..models.detectors import CondDETR, DetrxCoDETR, ModularDETR
from ..models.detectors.up_detr import UPDETRMixin

# Exact detector classes whose template stages are known to trace (subclasses may change them).
EXPORTABLE_DETECTORS = (DETR, ConditionalDETR, DeformableDETR, DINO, ModularDETR, CondDETR)
# mmdet's heads whose post-processing is DETRHead's plain top-k, the one the wrapper reproduces (exact classes: a
# subclass may change it). Our heads say so themselves with a class attribute ``detr_topk_postprocess = True``
# (Co-DETR's heads only with test_cfg.nms unset, checked below).
MMDET_TOPK_HEADS = (DETRHead, ConditionalDETRHead, DeformableDETRHead, DABDETRHead, DINOHead)
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')


class UnsupportedModelError(TypeError):
    """The model (or one of its modules) cannot be exported by this tool."""


def _where(obj) -> str:
    return f'{type(obj).__name__} ({type(obj).__module__})'


def exportable_parts(model: nn.Module, skip_nms: bool = False) -> Tuple[nn.Module, nn.Module]:
    """Checks that ``model`` is exportable and returns ``(transformer_detector, head)``.

    For :class:`DetrxCoDETR` the transformer detector is its ``query_head`` (the DETR branch; the auxiliary
    heads are training-only); backbone and neck stay on the top-level model.

    Args:
        model: A built detector.
        skip_nms: Allow a Co-DETR head with ``test_cfg.nms`` (NMS is an mmcv custom op): the export then has
            the NMS-free top-k and ``test_cfg.nms`` is removed from the head so PyTorch matches it.

    Raises:
        UnsupportedModelError: naming the detector type or module that cannot be exported.
    """
    if isinstance(model, UPDETRMixin):
        raise UnsupportedModelError(
            f'{_where(model)} is an UP-DETR pre-training model: its decoder needs query patches cut from each '
            'image (patch_encoder) and cannot be exported. Export the fine-tuned model instead '
            '(configs/up_detr/*finetune*: a plain DETR / CondDETR config).')
    if isinstance(model, TwoStageDetector):
        raise UnsupportedModelError(
            f'{_where(model)} is a two-stage RoI detector (rpn_head + roi_head with RoIAlign and NMS, mmcv custom '
            'ops): not supported by this exporter (DETR-family models only).')
    base = model.query_head if isinstance(model, DetrxCoDETR) else model
    if type(base) not in EXPORTABLE_DETECTORS:
        part = 'query_head of DetrxCoDETR' if base is not model else 'detector'
        raise UnsupportedModelError(
            f'{part} {_where(base)} cannot be exported: supported detector types are '
            f'{", ".join(t.__name__ for t in EXPORTABLE_DETECTORS)} and DetrxCoDETR around one of them '
            '(e.g. METR and UP-DETR pre-training models are not).')
    for name in ('mask_head', 'panoptic_head', 'semantic_head'):
        if getattr(model, name, None) is not None or getattr(base, name, None) is not None:
            raise UnsupportedModelError(f'{_where(model)} has a `{name}`: mask outputs cannot be exported.')
    head = base.bbox_head
    if type(head) not in MMDET_TOPK_HEADS and not getattr(type(head), 'detr_topk_postprocess', False):
        raise UnsupportedModelError(
            f'bbox_head {_where(head)} has its own post-processing, which this exporter does not reproduce.')
    nms_cfg = head.test_cfg.get('nms', None) if head.test_cfg is not None else None
    if nms_cfg is not None:
        if not skip_nms:
            raise UnsupportedModelError(
                f'bbox_head {_where(head)} runs NMS at test time (test_cfg.nms={dict(nms_cfg)}), an mmcv custom '
                'op that cannot be exported: pass --skip-nms to export the NMS-free top-k and apply NMS outside.')
        head.test_cfg.pop('nms')
    return base, head


def fixed_shape_samples(shape: Tuple[int, int], batch_size: int = 1) -> List[DetDataSample]:
    """Data samples of unpadded (H, W) inputs: the only meta information the transformer stages read."""
    h, w = int(shape[0]), int(shape[1])
    meta = dict(img_shape=(h, w), batch_input_shape=(h, w), pad_shape=(h, w), ori_shape=(h, w),
                scale_factor=(1.0, 1.0))
    return [DetDataSample(metainfo=dict(meta)) for _ in range(batch_size)]


def topk_detections(cls_scores: Tensor, bbox_preds: Tensor, use_sigmoid: bool, num_classes: int,
                    max_per_img: int, shape: Tuple[int, int]) -> Tuple[Tensor, Tensor, Tensor]:
    """DETR's NMS-free post-processing (mmdet ``DETRHead``'s per-image top-k, ``rescale=False``), batched.

    Args:
        cls_scores: Last-layer logits, (B, Q, C) (C = num_classes with sigmoid, num_classes + 1 with softmax).
        bbox_preds: Normalised (cx, cy, w, h), (B, Q, 4).
        use_sigmoid: Sigmoid (top-k over query-class pairs) or softmax (best class per query, top-k queries).
        num_classes: Number of foreground classes.
        max_per_img: Detections kept per image, N.
        shape: Input size (H, W): boxes are scaled to it and clamped inside it.

    Returns:
        ``boxes`` (B, N, 4) xyxy pixels, ``scores`` (B, N), ``labels`` (B, N) int64.
    """
    if use_sigmoid:
        scores, index = cls_scores.sigmoid().flatten(1).topk(max_per_img, dim=1)
        labels = index % num_classes
        query = index // num_classes
    else:
        class_scores, class_labels = cls_scores.softmax(-1)[..., :num_classes].max(-1)
        scores, query = class_scores.topk(max_per_img, dim=1)
        labels = class_labels.gather(1, query)
    boxes = bbox_preds.gather(1, query.unsqueeze(-1).expand(-1, -1, 4))
    h, w = float(shape[0]), float(shape[1])
    size = boxes.new_tensor([w, h, w, h])
    boxes = torch.minimum(bbox_cxcywh_to_xyxy(boxes) * size, size).clamp(min=0)
    return boxes, scores, labels


class DetrOnnxWrapper(nn.Module):
    """A DETR-family detector as ``images (1, 3, H, W) -> boxes (1, N, 4), scores (1, N), labels (1, N)``.

    Args:
        model: The detector (see :func:`exportable_parts`), put in eval mode.
        shape: The fixed input size (H, W).
        skip_nms: See :func:`exportable_parts`.
    """

    def __init__(self, model: nn.Module, shape: Tuple[int, int], skip_nms: bool = False) -> None:
        super().__init__()
        self.transformer, self.head = exportable_parts(model, skip_nms=skip_nms)
        self.model = model.eval()
        self.shape = (int(shape[0]), int(shape[1]))
        test_cfg = self.head.test_cfg or dict()
        self.max_per_img = test_cfg.get('max_per_img', self.transformer.num_queries)
        self.eval()  # a module left in training mode would put the detector back into it after the export

    def forward(self, inputs: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Args: inputs (B, 3, H, W) normalised images. Returns boxes (B, N, 4), scores (B, N), labels (B, N)."""
        if tuple(inputs.shape[-2:]) != self.shape:
            raise ValueError(f'input size {tuple(inputs.shape[-2:])} != export shape {self.shape}')
        feats = self.model.extract_feat(inputs)
        head_inputs = self.transformer.forward_transformer(feats, fixed_shape_samples(self.shape, inputs.size(0)))
        outs = self.head(**head_inputs)
        cls_scores, bbox_preds = outs[0][-1], outs[1][-1]  # last decoder layer
        return topk_detections(cls_scores, bbox_preds, self.head.loss_cls.use_sigmoid, self.head.num_classes,
                               self.max_per_img, self.shape)


@torch.no_grad()
def reference_predict(model: nn.Module, inputs: Tensor, shape: Tuple[int, int]) -> Tuple[Tensor, Tensor, Tensor]:
    """The model's own ``predict(rescale=False)`` on unpadded (H, W) inputs, as (B, N, ...) tensors.

    A :class:`DetrxCoDETR` predicts with its DETR branch (``test_cfg.eval_module='detr'``) here.
    """
    model.eval()
    co_test_cfg = model.test_cfg if isinstance(model, DetrxCoDETR) else None
    eval_module = co_test_cfg.get('eval_module', 'detr') if co_test_cfg is not None else None
    if co_test_cfg is not None:
        co_test_cfg['eval_module'] = 'detr'  # the exported branch
    try:
        samples = model.predict(inputs, fixed_shape_samples(shape, inputs.size(0)), rescale=False)
    finally:
        if co_test_cfg is not None:
            co_test_cfg['eval_module'] = eval_module
    preds = [s.pred_instances for s in samples]
    return (torch.stack([p.bboxes for p in preds]), torch.stack([p.scores for p in preds]),
            torch.stack([p.labels for p in preds]))


def export_onnx(wrapper: DetrOnnxWrapper, out: str, opset: int = 17, example: Optional[Tensor] = None) -> str:
    """Traces ``wrapper`` with the TorchScript exporter (``dynamo=False``) into ``out`` and checks its ops.

    Returns:
        The path written.
    """
    if example is None:
        example = torch.randn(1, 3, *wrapper.shape, generator=torch.Generator().manual_seed(0))
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # shape checks in the modules become constants of the trace: expected for a fixed-size export
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', message='Constant folding')
        torch.onnx.export(wrapper, (example, ), out, input_names=['images'],
                          output_names=['boxes', 'scores', 'labels'], opset_version=opset, dynamo=False,
                          do_constant_folding=True)
    check_default_domain(out)
    return out


def graph_op_types(path: str) -> Dict[str, int]:
    """Counts the graph's ops (subgraphs included) as ``'domain::OpType'`` ('' for the default domain)."""
    import onnx

    counts: Dict[str, int] = {}

    def visit(graph):
        for node in graph.node:
            key = f'{node.domain}::{node.op_type}' if node.domain not in ('', 'ai.onnx') else node.op_type
            counts[key] = counts.get(key, 0) + 1
            for attr in node.attribute:
                for sub in ([attr.g] if attr.HasField('g') else []) + list(attr.graphs):
                    visit(sub)

    visit(onnx.load(path).graph)
    return counts


def check_default_domain(path: str) -> None:
    """Raises ``RuntimeError`` listing any op outside the default ONNX domain (custom ops, e.g. mmcv's)."""
    import onnx

    onnx.checker.check_model(path)
    custom = sorted(op for op in graph_op_types(path) if '::' in op)
    if custom:
        raise RuntimeError(f'{path}: the graph has ops outside the default ONNX domain: {custom}')


ONNX_OPT_LEVELS = ('disable', 'basic', 'extended', 'all')


def onnx_session(path: str, threads: Optional[int] = None, opt_level: str = 'all'):
    """An onnxruntime CPU session of ``path``.

    Args:
        path: The exported graph.
        threads: Intra-op threads; None takes ``OMP_NUM_THREADS`` (unset or 0: onnxruntime's default).
        opt_level: Graph optimisation level, one of :data:`ONNX_OPT_LEVELS` (onnxruntime's default is ``all``).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads is not None else int(os.environ.get('OMP_NUM_THREADS', '0') or 0)
    levels = ort.GraphOptimizationLevel
    options.graph_optimization_level = dict(zip(ONNX_OPT_LEVELS, (levels.ORT_DISABLE_ALL, levels.ORT_ENABLE_BASIC,
                                                                  levels.ORT_ENABLE_EXTENDED,
                                                                  levels.ORT_ENABLE_ALL)))[opt_level]
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def run_onnx(path: str, inputs: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs the exported model with onnxruntime (CPU, ``OMP_NUM_THREADS`` threads); returns boxes, scores, labels."""
    session = onnx_session(path)
    boxes, scores, labels = session.run(['boxes', 'scores', 'labels'], {'images': inputs.astype(np.float32)})
    return boxes, scores, labels


def compare_outputs(onnx_outs: Sequence[np.ndarray], torch_outs: Sequence[Tensor],
                    tie_tol: float = 1e-4, box_tol: Optional[float] = None) -> Dict[str, float]:
    """Index-by-index differences of the two top-k lists, allowing reordered score ties.

    Top-k order among detections whose scores tie (within ``tie_tol``) is arbitrary and may differ between
    onnxruntime and PyTorch; a detection that differs from its index's reference while their scores agree is
    matched to the tied reference detection (same score and label) with the closest box instead. Boxes are equal
    within ``box_tol`` pixels (default ``tie_tol``; :func:`verify_onnx` scales it with the input size).

    Returns:
        ``boxes`` / ``scores`` max abs diff, ``labels`` number of mismatches, ``reordered`` ties swapped and
        ``matched``: the fraction of detections equal (within the tolerances) to their reference.
    """
    box_tol = tie_tol if box_tol is None else box_tol
    boxes, scores, labels = onnx_outs
    ref_boxes, ref_scores, ref_labels = (t.detach().cpu().numpy() for t in torch_outs)
    if boxes.shape != ref_boxes.shape or scores.shape != ref_scores.shape:
        raise ValueError(f'output shapes differ: onnx boxes {boxes.shape} scores {scores.shape}, '
                         f'torch boxes {ref_boxes.shape} scores {ref_scores.shape}')
    box_diff = np.abs(boxes - ref_boxes).max(-1, initial=0.0)  # (B, N)
    label_bad = labels != ref_labels
    reordered = 0
    score_diff = np.abs(scores - ref_scores)
    for b, i in zip(*np.nonzero(((box_diff > box_tol) | label_bad) & (score_diff <= tie_tol))):
        tied = np.nonzero((np.abs(ref_scores[b] - scores[b, i]) <= tie_tol) & (ref_labels[b] == labels[b, i]))[0]
        if len(tied):
            diffs = np.abs(ref_boxes[b, tied] - boxes[b, i]).max(-1)
            box_diff[b, i] = diffs.min()
            label_bad[b, i] = False
            reordered += int(tied[diffs.argmin()] != i)
    matched = (box_diff <= box_tol) & ~label_bad & (score_diff <= tie_tol)
    return dict(boxes=float(box_diff.max(initial=0.0)), scores=float(score_diff.max(initial=0.0)),
                labels=float(label_bad.sum()), reordered=float(reordered),
                matched=float(matched.mean()) if matched.size else 1.0)


def preprocess_params(model: nn.Module) -> Dict:
    """``mean``, ``std`` (3 values each) and ``bgr_to_rgb`` of the model's ``DetDataPreprocessor``."""
    dp = model.data_preprocessor
    if getattr(dp, '_enable_normalize', False):
        mean, std = dp.mean.flatten().tolist(), dp.std.flatten().tolist()
    else:
        mean, std = [0.0] * 3, [1.0] * 3
    return dict(mean=mean, std=std, bgr_to_rgb=bool(getattr(dp, '_channel_conversion', False)))


def default_shape(cfg) -> Tuple[int, int]:
    """(H, W) from the test pipeline's ``Resize`` scale: (short side, long side) for keep-ratio resizes.

    The pipeline is the test (else val) loader's, the one the test runs; a top-level ``test_pipeline`` variable only
    where the loader names none (a config may inherit that variable and run another pipeline).
    """
    loader = cfg.get('test_dataloader', None) or cfg.get('val_dataloader', None) or dict()
    pipeline = loader.get('dataset', dict()).get('pipeline', None) or cfg.get('test_pipeline', None) or []
    for step in pipeline:
        if step.get('type') in ('Resize', 'mmdet.Resize') and step.get('scale') is not None:
            scale = step['scale']
            scale = (scale, scale) if isinstance(scale, int) else tuple(scale)
            if step.get('keep_ratio', False):
                return min(scale), max(scale)
            return scale[1], scale[0]  # mmdet scales are (w, h)
    raise ValueError('no Resize with a scale in the config\'s test pipeline: pass --shape H W')


def find_images(cfg, num: int) -> List[str]:
    """The first ``num`` image files (sorted) under the config's test dataset ``data_root``."""
    loader = cfg.get('test_dataloader', None) or cfg.get('val_dataloader', None) or dict()
    root = loader.get('dataset', dict()).get('data_root', None)
    if not root or not osp.isdir(root):
        raise FileNotFoundError(f'test_dataloader.dataset.data_root {root!r} is not a folder: pass --image')
    found = []
    for dirpath, dirnames, files in os.walk(root):
        dirnames.sort()
        found.extend(osp.join(dirpath, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTS))
        if len(found) >= num:
            break
    if not found:
        raise FileNotFoundError(f'no images under {root!r}: pass --image')
    return found[:num]


def verify_onnx(model: nn.Module, onnx_path: str, images: Sequence[str], shape: Tuple[int, int],
                atol: float = 1e-4) -> List[Dict]:
    """Runs onnxruntime and the model's predict on real images, preprocessed as deployment would.

    Args:
        model: The PyTorch detector the graph was exported from.
        onnx_path: The exported graph.
        images: Image files.
        shape: The export input size (H, W).
        atol: Largest allowed max abs difference of scores, and of boxes relative to the input's longer side
            (boxes may differ by ``atol * max(shape)`` pixels: float32 rounding grows with the coordinates, so
            a fixed pixel tolerance would fail a correct graph on large inputs).

    Returns:
        One dict per image: ``image``, ``boxes`` / ``scores`` max abs diff, ``labels`` mismatches, ``reordered``
        (score ties in another order, see :func:`compare_outputs`) and ``ok``.
    """
    import cv2

    from .preprocess import preprocess_image

    params = preprocess_params(model)
    rows = []
    for path in images:
        img = cv2.imread(path)
        if img is None:
            raise FileNotFoundError(f'cannot read image {path!r}')
        inputs, _ = preprocess_image(img, shape, **params)
        reference = reference_predict(model, torch.from_numpy(inputs), shape)
        box_tol = atol * max(shape)
        diffs = compare_outputs(run_onnx(onnx_path, inputs), reference, tie_tol=atol, box_tol=box_tol)
        ok = bool(diffs['boxes'] <= box_tol and diffs['scores'] <= atol and diffs['labels'] == 0)
        rows.append(dict(image=path, ok=ok, **diffs))
    return rows
