"""Train-step time of our CondDETR vs mmdet's ConditionalDETR (same config, weights and batch).

Both models are built from one config that differs only in the detector / head ``type`` and the
assigner; mmdet's weights are loaded into ours with ``strict=True``. The decoder configs carry no
``type``s, so each model uses its own defaults (ours: ``CondDETRDecoderLayer`` with conditional attentions
and ``FastDropoutFFN``, encoder ``ModularDETREncoderLayer`` with ``FastDropoutMultiheadAttention`` and
``FastDropoutFFN``; mmdet: its own layers, mmcv's attention and FFN). Dropout is on (0.1), as in training.
One timed call is a full training step: forward, losses, backward and an AdamW step (gradient clipping as
in the configs). The calls are interleaved so machine noise hits both alike. Then (``--mem-steps``, 0 to skip)
each model runs that many steps in its own fresh process and reports its peak resident memory
(``memory_ratio=<ours/mmdet>`` of what the steps allocate). The last line is ``ratio=<ours/mmdet>`` of the
step time (lower is better).
On a shared machine pass ``--threads 1``: with more threads than free cores OpenMP spins and the timings
become mostly noise.

Example::

    python tools/benchmark.py conditional-detr --depth 18 --queries 300 --img-size 320 --repeats 10
"""
import argparse
import os
from typing import Tuple

import torch

from ._common import (add_memory_arguments, forwarded_argv, memory_in_subprocesses, non_negative_int, positive_int,
                      make_train_step, print_memory, print_worker_memory, summarize, time_interleaved)
from ._profile import add_profile_arguments, print_profile, profile_steps


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--depth', type=int, default=18, help='ResNet depth of the backbone')
    parser.add_argument('--enc-layers', type=int, default=6)
    parser.add_argument('--dec-layers', type=int, default=6)
    parser.add_argument('--ffn-dims', type=int, default=2048, help='feed-forward channels')
    parser.add_argument('--queries', type=int, default=300)
    parser.add_argument('--num-classes', type=int, default=80)
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--img-size', type=int, default=320, help='square input size in pixels')
    parser.add_argument('--num-gts', type=int, default=10, help='ground-truth boxes per image')
    parser.add_argument('--assigner', default='auto', choices=('auto', 'HungarianAssigner', 'BatchedHungarianAssigner'),
                        help='assigner of ours; auto = BatchedHungarianAssigner when registered. mmdet always '
                        'uses HungarianAssigner')
    parser.add_argument('--repeats', type=positive_int, default=10)
    parser.add_argument('--warmup', type=non_negative_int, default=2)
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: leave the default)')
    parser.add_argument('--seed', type=int, default=0)
    add_memory_arguments(parser, ('ours', 'mmdet'), 'training steps')
    add_profile_arguments(parser)


def model_cfg(args: argparse.Namespace, detector: str, head: str, assigner: str) -> dict:
    """The shared config; mmdet's ConditionalDETR needs embed_dims=256 (its sine embedding is fixed)."""
    dims = 256
    channels = 512 if args.depth in (18, 34) else 2048
    ffn = dict(embed_dims=dims, feedforward_channels=args.ffn_dims, num_fcs=2, ffn_drop=0.1,
               act_cfg=dict(type='ReLU', inplace=True))
    return dict(
        type=detector,
        num_queries=args.queries,
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=1),
        backbone=dict(type='ResNet', depth=args.depth, num_stages=4, out_indices=(3, ), frozen_stages=1,
                      norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch',
                      init_cfg=None),
        neck=dict(type='ChannelMapper', in_channels=[channels], kernel_size=1, out_channels=dims, act_cfg=None,
                  norm_cfg=None, num_outs=1),
        encoder=dict(num_layers=args.enc_layers,
                     layer_cfg=dict(self_attn_cfg=dict(embed_dims=dims, num_heads=8, dropout=0.1, batch_first=True),
                                    ffn_cfg=ffn)),
        decoder=dict(num_layers=args.dec_layers,
                     layer_cfg=dict(self_attn_cfg=dict(embed_dims=dims, num_heads=8, attn_drop=0.1, cross_attn=False),
                                    cross_attn_cfg=dict(embed_dims=dims, num_heads=8, attn_drop=0.1, cross_attn=True),
                                    ffn_cfg=ffn),
                     return_intermediate=True),
        positional_encoding=dict(num_feats=dims // 2, normalize=True),
        bbox_head=dict(type=head, num_classes=args.num_classes, embed_dims=dims,
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                       loss_bbox=dict(type='L1Loss', loss_weight=5.0),
                       loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
        train_cfg=dict(assigner=dict(type=assigner, match_costs=[
            dict(type='FocalLossCost', weight=2.0),
            dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0)])),
        test_cfg=dict(max_per_img=100))


def make_batch(args: argparse.Namespace):
    """A fixed batch of random images with random boxes (``num_gts`` per image)."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(args.seed)
    size = args.img_size
    inputs = torch.randn(args.batch_size, 3, size, size, generator=gen)
    samples = []
    for _ in range(args.batch_size):
        sample = DetDataSample(metainfo=dict(img_shape=(size, size), batch_input_shape=(size, size),
                                             ori_shape=(size, size), scale_factor=(1., 1.)))
        xy = torch.rand(args.num_gts, 2, generator=gen) * size * 0.7
        wh = torch.rand(args.num_gts, 2, generator=gen) * size * 0.3 + 4
        gt = InstanceData()
        gt.bboxes = torch.cat([xy, (xy + wh).clamp(max=size)], dim=1)
        gt.labels = torch.randint(0, args.num_classes, (args.num_gts, ), generator=gen)
        sample.gt_instances = gt
        samples.append(sample)
    return inputs, samples


def build_models(args: argparse.Namespace, which: Tuple[str, ...] = ('ours', 'mmdet')) -> Tuple[dict, str]:
    """The requested models in training mode (``mmdet``: mmdet's ConditionalDETR; ``ours`` with its weights when
    both are built) and the assigner ours uses."""
    import mmdet_detrx  # noqa: F401  registers our modules
    from mmdet.registry import MODELS, TASK_UTILS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=True)

    assigner = args.assigner
    if assigner == 'auto':
        assigner = 'BatchedHungarianAssigner' if TASK_UTILS.get('BatchedHungarianAssigner') else 'HungarianAssigner'
    torch.manual_seed(args.seed)
    models = {}
    if 'mmdet' in which:
        models['mmdet'] = MODELS.build(model_cfg(args, 'ConditionalDETR', 'ConditionalDETRHead', 'HungarianAssigner'))
    if 'ours' in which:
        models['ours'] = MODELS.build(model_cfg(args, 'CondDETR', 'CondDETRHead', assigner))
        if 'mmdet' in models:
            models['ours'].load_state_dict(models['mmdet'].state_dict(), strict=True)
    for model in models.values():
        model.train()
    return models, assigner


def main(args: argparse.Namespace) -> None:
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    inputs, samples = make_batch(args)
    if args.memory_worker:  # a fresh process with only the measured model (its weights do not change its memory)
        models, _ = build_models(args, (args.memory_worker, ))
        step = make_train_step(models[args.memory_worker], inputs, samples)
        print_worker_memory(step, args.mem_steps, args.memory_worker)
        return
    models, assigner = build_models(args)
    ours, ref = models['ours'], models['mmdet']
    print(f'config: ResNet-{args.depth}, {args.enc_layers} enc / {args.dec_layers} dec layers, ffn {args.ffn_dims}, '
          f'{args.queries} queries, {args.num_classes} classes, batch {args.batch_size}x3x{args.img_size}x'
          f'{args.img_size}, {args.num_gts} gts/img; ours uses {assigner}; torch {torch.__version__}, '
          f'{torch.get_num_threads()} threads, PYTHONHASHSEED={os.environ.get("PYTHONHASHSEED")}')
    steps = {'ours': make_train_step(ours, inputs, samples), 'mmdet': make_train_step(ref, inputs, samples)}
    if args.profile:
        print_profile(profile_steps(models, steps, args.profile), args.profile_top)
        return
    times = time_interleaved(steps, repeats=args.repeats, warmup=args.warmup)
    ratio = summarize(times, ours='ours', ref='mmdet')
    if args.mem_steps:
        del ours, ref, models
        print(f'\npeak memory, one fresh subprocess each, {args.mem_steps} training steps')
        print_memory(memory_in_subprocesses('conditional-detr', forwarded_argv(args)))
    print(f'ratio={ratio:.3f}')
