"""Deployment speed: the exported ONNX graph in onnxruntime vs the model's PyTorch eager ``predict``, same input.

The model of CONFIG (weights from CHECKPOINT, else its initialisation) is exported as ``tools/deploy/export_onnx.py``
does (fixed input size, the head's top-k post-processing in the graph). Both run on one normalised input of that
size with the same number of threads (``torch.set_num_threads`` / onnxruntime's ``intra_op_num_threads``), timed
interleaved (``--repeats`` rounds after ``--warmup``); medians, spreads, the machine's load and noise warnings are
printed. ``--opt-level`` is onnxruntime's graph optimisation level; ``--quantize dynamic`` also times an int8 copy of
the graph (``onnxruntime.quantization.quantize_dynamic``: int8 weights, activations quantised at run time, for the
ops in ``--quantize-ops``). ``--eval N`` runs the config's test set (first N images, 0 = all) through eager PyTorch
and every graph and reports the config's metric for each, so an accuracy drop is seen next to the speed-up.

    python tools/benchmark.py onnx configs/dino/dino_lite0_1xb2-14e_bccd.py \
        checkpoints/dino_lite0_bccd_co-dino-14e.pth --quantize dynamic --eval 0

The last line is ``ratio=<onnxruntime / eager>`` of the int8 graph with ``--quantize``, else of the float graph.
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from mmdet_detrx.deploy.onnx_export import (ONNX_OPT_LEVELS, DetrOnnxWrapper, default_shape, export_onnx, onnx_session,
                                            reference_predict)
from ._common import non_negative_float, non_negative_int, noise_report, positive_int, print_noise, time_interleaved

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', help='config of a DETR-family model (path or name of one of ours)')
    parser.add_argument('checkpoint', nargs='?', help='weights (default: the initialisation, timing only)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: the test pipeline\'s Resize)')
    parser.add_argument('--threads', type=positive_int, default=2, help='threads of both (default 2)')
    parser.add_argument('--repeats', type=positive_int, default=15)
    parser.add_argument('--warmup', type=non_negative_int, default=3)
    parser.add_argument('--pause', type=non_negative_float, default=0.25,
                        help='seconds of sleep before each timed call: eager and onnxruntime keep their own thread '
                             'pools, whose threads spin for a while after a call and slow the other one down '
                             '(2 threads on 2 cores, small Conditional DETR: medians 93 / 29 ms with it, 136 / 51 ms '
                             'without)')
    parser.add_argument('--opt-level', choices=ONNX_OPT_LEVELS, default='all', help='onnxruntime graph optimisation')
    parser.add_argument('--quantize', choices=('none', 'dynamic'), default='none',
                        help='also time an int8 dynamically quantised graph')
    parser.add_argument('--quantize-ops', default='MatMul,Gemm', help='op types to quantise (comma separated)')
    parser.add_argument('--eval', type=int, default=None, metavar='N',
                        help='evaluate eager and every graph on the first N test images (0 = all)')


def quantize(src: str, dst: str, op_types: List[str]) -> str:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(src, dst, weight_type=QuantType.QInt8, op_types_to_quantize=op_types)
    return dst


def evaluate(cfg, model, sessions: Dict[str, object], shape: Tuple[int, int], num: Optional[int]) -> Dict[str, dict]:
    """The config's test metric of eager ``predict`` and of every session on the same preprocessed images (resized to
    ``shape`` where the test pipeline gives another size)."""
    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner
    from mmengine.structures import InstanceData

    loader_cfg = cfg.test_dataloader.copy()
    loader_cfg.update(batch_size=1, num_workers=0, persistent_workers=False)
    if num:
        loader_cfg['dataset'] = dict(loader_cfg['dataset'], indices=num)
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    names = ['eager'] + list(sessions)
    evaluators = {}
    for name in names:
        evaluators[name] = Evaluator(cfg.test_evaluator)
        evaluators[name].dataset_meta = loader.dataset.metainfo
    count = resized = 0
    for data in loader:
        batch = model.data_preprocessor(data, False)
        inputs, samples = batch['inputs'], batch['data_samples']
        h, w = inputs.shape[-2:]
        if (h, w) != tuple(shape):  # the graph has one input size: resize (both runs see the same input)
            inputs = torch.nn.functional.interpolate(inputs, size=shape, mode='bilinear', align_corners=False)
            resized += 1
        # graph pixels -> preprocessed pixels -> original image
        scale = np.array([shape[1] / w, shape[0] / h] * 2, dtype=np.float32) * np.array(
            samples[0].metainfo['scale_factor'] * 2, dtype=np.float32)
        outputs = {'eager': [t.numpy() for t in reference_predict(model, inputs, shape)]}
        for name, session in sessions.items():
            outputs[name] = session.run(['boxes', 'scores', 'labels'], {'images': inputs.numpy()})
        for name, (boxes, scores, labels) in outputs.items():
            sample = samples[0].clone()
            sample.pred_instances = InstanceData(bboxes=torch.from_numpy(boxes[0] / scale),
                                                 scores=torch.from_numpy(scores[0]),
                                                 labels=torch.from_numpy(labels[0]).long())
            evaluators[name].process(data_samples=[sample], data_batch=data)
        count += 1
    if resized:
        print(f'{resized} of {count} images resized to the graph\'s input size (no longer keeping their aspect '
              f'ratio): the metrics compare the runs with each other, not with the config\'s own test')
    return {name: evaluators[name].evaluate(count) for name in names}


def main(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    from mmdet.utils import register_all_modules

    from mmdet_detrx.utils.model_build import build_detector
    from mmdet_detrx.utils.strict_load import load_model_weights
    register_all_modules(init_default_scope=True)

    cfg, model = build_detector(args.config)
    shape = tuple(args.shape) if args.shape else default_shape(cfg)
    wrapper = DetrOnnxWrapper(model, shape)
    if args.checkpoint:
        load_model_weights(model, args.checkpoint)
    model.float().eval()
    wrapper.eval()
    inputs = torch.randn(1, 3, *shape, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as tmp:
        paths = {'onnxruntime': export_onnx(wrapper, osp.join(tmp, 'model.onnx'), example=inputs)}
        if args.quantize == 'dynamic':
            paths['onnxruntime int8'] = quantize(paths['onnxruntime'], osp.join(tmp, 'model_int8.onnx'),
                                                 [op for op in args.quantize_ops.split(',') if op])
        sizes = {name: osp.getsize(path) / 2**20 for name, path in paths.items()}
        sessions = {name: onnx_session(path, args.threads, args.opt_level) for name, path in paths.items()}

    feed = {'images': inputs.numpy()}
    fns = {'eager': lambda: reference_predict(model, inputs, shape)}
    for name, session in sessions.items():
        fns[name] = lambda s=session: s.run(['boxes', 'scores', 'labels'], feed)
    times = time_interleaved(fns, repeats=args.repeats, warmup=args.warmup, pause=args.pause,
                             progress=lambda stage, i, n: print(f'{stage} {i}/{n}', file=sys.stderr, flush=True))
    report = noise_report(times)
    eager = statistics.median(times['eager'])
    print(f'{args.config}: input (1, 3, {shape[0]}, {shape[1]}), {args.threads} threads (torch and onnxruntime), '
          f'onnxruntime graph optimisation {args.opt_level}, median of {args.repeats} after {args.warmup} warm-up, '
          f'{args.pause:g} s pause before each call')
    print('| run | median ms | min ms | max ms | IQR / median | / eager | graph MiB |')
    print('|---|---|---|---|---|---|---|')
    for name, ts in times.items():
        print(f'| {name} | {statistics.median(ts) * 1e3:.1f} | {min(ts) * 1e3:.1f} | {max(ts) * 1e3:.1f} | '
              f'{report["relative_spread"][name]:.0%} | {statistics.median(ts) / eager:.3f} | '
              f'{f"{sizes[name]:.1f}" if name in sizes else "-"} |')
    print_noise(report)
    if args.eval is not None:
        metrics = evaluate(cfg, model, sessions, shape, args.eval or None)
        keys = sorted({k for m in metrics.values() for k in m})
        print('| run | ' + ' | '.join(keys) + ' |')
        print('|---|' + '---|' * len(keys))
        for name, m in metrics.items():
            print(f'| {name} | ' + ' | '.join(f'{m.get(k, float("nan")):.4f}' for k in keys) + ' |')
    chosen = 'onnxruntime int8' if args.quantize == 'dynamic' else 'onnxruntime'
    print(f'ratio={statistics.median(times[chosen]) / eager:.3f}')
