"""BatchedHungarianAssigner.batch_assign vs a loop of mmdet's HungarianAssigner.assign over the batch.

Both get the same random DETR-like batch (logits, absolute xyxy boxes, images of different sizes) and the
Deformable-DETR match costs (FocalLossCost 2, BBoxL1Cost 5 xywh, IoUCost giou 2). The assignments are checked
to be identical before timing; the last line is ``ratio=<ours/mmdet>`` (median times).

Before timing, one 16 MiB tensor is freed so that glibc's malloc is in the state of a training process (see
``warm_allocator``; ``--fresh-allocator`` skips it). Under CPU contention also try ``--threads 1``: with two
OpenMP threads on busy cores both implementations slow down erratically.
"""
import argparse
from typing import List, Tuple

import torch
from mmengine.structures import InstanceData

from ._common import (add_memory_arguments, forwarded_argv, memory_in_subprocesses, non_negative_int, positive_int,
                      print_memory, print_worker_memory, summarize, time_interleaved)

MATCH_COSTS = [
    dict(type='FocalLossCost', weight=2.0),
    dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
    dict(type='IoUCost', iou_mode='giou', weight=2.0)
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--batch', type=int, default=8, help='images per batch')
    parser.add_argument('--queries', type=int, default=300, help='predictions per image')
    parser.add_argument('--classes', type=int, default=80, help='number of classes')
    parser.add_argument('--gts', type=int, default=50, help='ground truths per image')
    parser.add_argument('--vary-gts', action='store_true',
                        help='draw each image\'s number of gts uniformly from [0, --gts] instead')
    parser.add_argument('--repeats', type=positive_int, default=20, help='timed rounds')
    parser.add_argument('--warmup', type=non_negative_int, default=3, help='untimed rounds')
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: keep the default)')
    parser.add_argument('--seed', type=int, default=0)
    add_memory_arguments(parser, ('ours', 'mmdet'), 'batch assignments')
    parser.add_argument('--fresh-allocator', action='store_true',
                        help='keep the malloc thresholds of a fresh process, which hands multi-MiB temporaries back '
                        'to the OS after each call (a training process does not; by default one large free first '
                        'puts malloc in that state)')


def warm_allocator(num_bytes: int = 16 << 20) -> None:
    """Frees one large CPU tensor, as every training step does many times before the assigner runs.

    glibc raises its mmap/trim thresholds (up to 32 MiB) when a large mapped block is freed. In a fresh benchmark
    process they are still at 128 KiB, so multi-MiB temporaries are handed back to the OS after every call and
    page-faulted in again on the next one; a training process never pays that. Both implementations are timed
    in the same (warmed) state.
    """
    torch.empty(num_bytes // 4, dtype=torch.float32)


def random_boxes(num: int, img_h: int, img_w: int, gen: torch.Generator) -> torch.Tensor:
    """(num, 4) absolute xyxy boxes with positive size inside an img_h x img_w image."""
    size = torch.tensor([img_w, img_h], dtype=torch.float32)
    top_left = torch.rand(num, 2, generator=gen) * size * 0.8
    wh = torch.rand(num, 2, generator=gen) * size * 0.3 + 1
    return torch.cat([top_left, (top_left + wh).minimum(size)], dim=1)


def make_batch(args: argparse.Namespace) -> Tuple[List[InstanceData], List[InstanceData], List[dict]]:
    """Random predictions, ground truths and img_metas for one batch."""
    gen = torch.Generator().manual_seed(args.seed)
    preds, gts, metas = [], [], []
    for _ in range(args.batch):
        img_h = int(torch.randint(480, 801, (), generator=gen))
        img_w = int(torch.randint(640, 1334, (), generator=gen))
        num_gts = int(torch.randint(0, args.gts + 1, (), generator=gen)) if args.vary_gts else args.gts
        preds.append(InstanceData(scores=torch.randn(args.queries, args.classes, generator=gen),
                                  bboxes=random_boxes(args.queries, img_h, img_w, gen)))
        gts.append(InstanceData(labels=torch.randint(0, args.classes, (num_gts, ), generator=gen),
                                bboxes=random_boxes(num_gts, img_h, img_w, gen)))
        metas.append(dict(img_shape=(img_h, img_w)))
    return preds, gts, metas


def main(args: argparse.Namespace) -> None:
    import mmdet_detrx  # noqa: F401  (registers BatchedHungarianAssigner)
    from mmdet.registry import TASK_UTILS

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if not args.fresh_allocator:
        warm_allocator()
    ours = TASK_UTILS.build(dict(type='BatchedHungarianAssigner', match_costs=MATCH_COSTS))
    ref = TASK_UTILS.build(dict(type='HungarianAssigner', match_costs=MATCH_COSTS))
    preds, gts, metas = make_batch(args)

    def run_ours():
        return ours.batch_assign(preds, gts, metas)

    def run_mmdet():
        return [ref.assign(p, g, m) for p, g, m in zip(preds, gts, metas)]

    if args.memory_worker:
        step = run_ours if args.memory_worker == 'ours' else run_mmdet
        print_worker_memory(step, args.mem_steps, args.memory_worker)
        return

    same = [
        torch.equal(a.gt_inds, b.gt_inds) and torch.equal(a.labels, b.labels) and a.num_gts == b.num_gts
        for a, b in zip(run_ours(), run_mmdet())
    ]
    num_gts = [len(g) for g in gts]
    print(f'batch={args.batch} queries={args.queries} classes={args.classes} gts/image={num_gts} '
          f'torch_threads={torch.get_num_threads()} allocator={"fresh" if args.fresh_allocator else "warmed"}')
    print(f'identical assignments (gt_inds, labels) to mmdet HungarianAssigner: {all(same)} '
          f'({sum(same)}/{len(same)} images)')
    times = time_interleaved({'ours batch_assign': run_ours, 'mmdet assign loop': run_mmdet},
                             repeats=args.repeats, warmup=args.warmup)
    ratio = summarize(times, ours='ours batch_assign', ref='mmdet assign loop')
    if args.mem_steps:
        print(f'\npeak memory, one fresh process each, {args.mem_steps} batch assignments')
        print_memory(memory_in_subprocesses('hungarian', forwarded_argv(args)), what='assignment')
    print(f'ratio={ratio:.3f}')
    if not all(same):
        raise SystemExit('assignments differ from mmdet HungarianAssigner')
