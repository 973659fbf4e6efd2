"""Inference of our Co-DINO (DetrxCoDETR, default ``eval_module='detr'``) vs the plain DINO it wraps.

Co-DETR's auxiliary heads only train: at test time the detector should be its base detector, at the same
cost and with the same detections. Both models here are ours with the same weights: the Co-DINO is built
from ``--config`` (default ``configs/co_detr/co-dino-5scale_r50_8xb2-lsj-1x_coco.py``, reduced like the
``co-detr`` benchmark), the DINO from its ``query_head`` (backbone and neck put back, the head as mmdet's
``DINOHead``) and loaded with the Co-DINO's ``query_head.*``, ``backbone.*`` and ``neck.*`` weights
(``strict=True``). The optional test-time NMS of the Co-DINO head (``test_cfg.nms``) is removed so that both
post-process alike. The run asserts identical detections (boxes, scores, labels) and times ``predict``
interleaved on one fixed batch.

The last line is ``ratio=<Co-DINO/DINO median inference time>`` (target <= 1.02).

Example::

    python tools/benchmark.py co-detr-inference --threads 1
"""
import argparse
import copy
import os.path as osp
from typing import Tuple

import torch
from mmengine.config import ConfigDict

from ._common import (add_memory_arguments, forwarded_argv, memory_in_subprocesses, non_negative_int, positive_int,
                      print_memory, print_worker_memory, summarize, time_interleaved)
from .co_detr import OUR_CONFIG, RESNET_CHANNELS, make_batch, quiet_init_logs, reduce_ours

# Co-DETR heads -> the mmdet head they extend (same parameters)
BASE_HEADS = {'DetrxCoDINOHead': 'DINOHead', 'DetrxCoDeformableDETRHead': 'DeformableDETRHead'}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--config', default=OUR_CONFIG,
                        help='a DetrxCoDETR config; the size options below reduce the default one only')
    parser.add_argument('--depth', type=int, default=18, choices=sorted(RESNET_CHANNELS),
                        help='ResNet depth of the backbone')
    parser.add_argument('--enc-layers', type=int, default=2)
    parser.add_argument('--dec-layers', type=int, default=2)
    parser.add_argument('--queries', type=int, default=300)
    parser.add_argument('--num-classes', type=int, default=80, help='classes of the random ground truth')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--img-size', type=int, default=256, help='square input size in pixels')
    parser.add_argument('--num-gts', type=int, default=10, help='ground-truth boxes per image (unused by predict)')
    parser.add_argument('--repeats', type=positive_int, default=10)
    parser.add_argument('--warmup', type=non_negative_int, default=2)
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: leave the default)')
    parser.add_argument('--seed', type=int, default=0)
    add_memory_arguments(parser, ('co-detr', 'base'), 'predict calls')


def base_config(co_cfg: ConfigDict) -> ConfigDict:
    """The plain base detector of a DetrxCoDETR config: its query_head with backbone, neck, preprocessor."""
    base = copy.deepcopy(co_cfg.query_head)
    for key in ('backbone', 'neck', 'data_preprocessor'):
        if co_cfg.get(key) is not None:
            base[key] = copy.deepcopy(co_cfg[key])
    head = base.bbox_head
    head.type = BASE_HEADS.get(head.type, head.type)
    if base.get('test_cfg') is not None:
        base.test_cfg.pop('nms', None)
    return base


def without_nms(co_cfg: ConfigDict) -> ConfigDict:
    """A copy of the Co-DETR config without test-time NMS (the base detector has none to compare with)."""
    co_cfg = copy.deepcopy(co_cfg)
    if co_cfg.query_head.get('test_cfg') is not None:
        co_cfg.query_head.test_cfg.pop('nms', None)
    return co_cfg


def build_base(co_cfg: ConfigDict) -> torch.nn.Module:
    """The plain base detector of a Co-DETR config, with the deformable attention Co-DETR's base runs on CPU
    (``cpu_deformable_attention``: the same function, another CPU summation order)."""
    from mmdet.registry import MODELS
    base = MODELS.build(base_config(co_cfg))
    from mmdet_detrx.models.detectors.co_detr import cpu_deformable_attention_wanted
    if cpu_deformable_attention_wanted(co_cfg.get('cpu_deformable_attention', True),
                                       co_cfg.get('cpu_level_sum_attention')):
        from mmdet_detrx.models.layers.deform_attn_cpu import use_cpu_deformable_attn
        use_cpu_deformable_attn(base)
    return base


def build_pair(co_cfg: ConfigDict, seed: int = 0) -> Tuple[torch.nn.Module, torch.nn.Module]:
    """(Co-DETR detector, its plain base detector) in eval mode with the same weights."""
    from mmdet.registry import MODELS
    co_cfg = without_nms(co_cfg)
    torch.manual_seed(seed)
    co = MODELS.build(co_cfg)
    co.init_weights()
    base = build_base(co_cfg)
    from mmdet_detrx.utils.converters.co_detr import convert_co_detr_to_base
    base.load_state_dict(convert_co_detr_to_base(co.state_dict(), base.state_dict()).state_dict, strict=True)
    return co.eval(), base.eval()


def same_detections(a: list, b: list) -> bool:
    """Whether two lists of data samples hold bitwise equal ``pred_instances`` (bboxes, scores, labels)."""
    return len(a) == len(b) and all(
        torch.equal(x.pred_instances[k], y.pred_instances[k]) for x, y in zip(a, b)
        for k in ('bboxes', 'scores', 'labels'))


def compare_inference(co_cfg: ConfigDict, inputs: torch.Tensor, samples: list, repeats: int = 10,
                      warmup: int = 2, seed: int = 0) -> dict:
    """Builds the pair, checks identical detections and times ``predict`` of both, interleaved.

    Args:
        co_cfg: A DetrxCoDETR model config (``test_cfg.eval_module`` 'detr', the default).
        inputs: Images, (bs, 3, H, W).
        samples: Their data samples (metainfo).
        repeats: Timed rounds.
        warmup: Untimed rounds first.
        seed: Seed of the weights.

    Returns:
        ``identical`` (bool), ``num_detections`` (per image), ``times`` (name -> seconds per round, names
        'co-detr' and 'base').
    """
    co, base = build_pair(co_cfg, seed)
    with torch.no_grad():
        co_results = co.predict(inputs, copy.deepcopy(samples))
        base_results = base.predict(inputs, copy.deepcopy(samples))
        times = time_interleaved({'co-detr': lambda: co.predict(inputs, copy.deepcopy(samples)),
                                  'base': lambda: base.predict(inputs, copy.deepcopy(samples))},
                                 repeats=repeats, warmup=warmup)
    return dict(identical=same_detections(co_results, base_results),
                num_detections=[len(r.pred_instances) for r in co_results], times=times)


def main(args: argparse.Namespace) -> None:
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    quiet_init_logs()
    import mmdet_detrx  # noqa: F401  registers our modules
    from mmengine.config import Config
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)

    co_cfg = Config.fromfile(args.config).model
    if co_cfg.get('type') != 'DetrxCoDETR':
        raise SystemExit(f'{args.config} is not a DetrxCoDETR config (model.type={co_cfg.get("type")!r})')
    if co_cfg.get('test_cfg', {}).get('eval_module', 'detr') != 'detr':
        raise SystemExit(f'{args.config}: set model.test_cfg.eval_module to "detr" to compare with the base detector')
    reduced = osp.abspath(args.config) == osp.abspath(OUR_CONFIG)
    if reduced:
        reduce_ours(co_cfg, args)
    co_cfg.backbone.init_cfg = None  # random weights: no download, the comparison needs none
    inputs, samples = make_batch(args)
    if args.memory_worker:  # only the measured model in this fresh process (its weights do not change its memory)
        from mmdet.registry import MODELS
        torch.manual_seed(args.seed)
        co_cfg = without_nms(co_cfg)
        model = (MODELS.build(co_cfg) if args.memory_worker == 'co-detr' else build_base(co_cfg)).eval()

        def predict():
            with torch.no_grad():
                model.predict(inputs, copy.deepcopy(samples))
        print_worker_memory(predict, args.mem_steps, args.memory_worker)
        return
    print(f'config: {osp.basename(args.config)}' + (f' reduced to R{args.depth}, {args.enc_layers} enc / '
                                                      f'{args.dec_layers} dec layers, {args.queries} queries'
                                                      if reduced else '')
          + f'; batch {args.batch_size}x3x{args.img_size}x{args.img_size}; torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads')
    result = compare_inference(co_cfg, inputs, samples, repeats=args.repeats, warmup=args.warmup, seed=args.seed)
    print(f'identical detections: {result["identical"]} ({result["num_detections"]} per image)')
    if not result['identical']:
        raise SystemExit('Co-DETR and its base detector disagree with the same weights')
    ratio = summarize(result['times'], ours='co-detr', ref='base')
    if args.mem_steps:
        print(f'\npeak memory, one fresh process each, {args.mem_steps} predict calls')
        print_memory(memory_in_subprocesses('co-detr-inference', forwarded_argv(args), impls=('co-detr', 'base')),
                     ours='co-detr', ref='base', what='predict call')
    print(f'ratio={ratio:.3f}')
