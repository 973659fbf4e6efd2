"""GroupHungarianAssigner.batch_assign vs a per-category loop of mmdet's HungarianAssigner over the batch.

Each image has ``--queries`` queries spread evenly over ``--categories`` categories (each query bound to one, with
one binary logit) and ``--gts`` ground truths of random categories. The reference runs, per image and per
category, mmdet's ``HungarianAssigner`` on that category's queries and gts (Deformable-DETR costs: FocalLossCost 2
on the single logit, BBoxL1Cost 5 xywh, IoUCost giou 2). Assignments are checked to be identical before timing;
the last line is ``ratio=<ours/loop>`` (median times). Under CPU contention use ``--threads 1``.
"""
import argparse
from typing import List, Tuple

import torch
from mmengine.structures import InstanceData

from ._common import (add_memory_arguments, forwarded_argv, memory_in_subprocesses, non_negative_int, positive_int,
                      print_memory, print_worker_memory, summarize, time_interleaved)
from .hungarian import MATCH_COSTS, random_boxes, warm_allocator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--batch', type=int, default=8, help='images per batch')
    parser.add_argument('--queries', type=int, default=300, help='queries per image')
    parser.add_argument('--categories', type=int, default=10, help='categories per image (queries spread evenly)')
    parser.add_argument('--gts', type=int, default=50, help='ground truths per image')
    parser.add_argument('--repeats', type=positive_int, default=20, help='timed rounds')
    parser.add_argument('--warmup', type=non_negative_int, default=3, help='untimed rounds')
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: keep the default)')
    parser.add_argument('--seed', type=int, default=0)
    add_memory_arguments(parser, ('ours', 'mmdet'), 'batch assignments')


def make_batch(args: argparse.Namespace) -> Tuple[List[InstanceData], List[InstanceData], List[dict]]:
    """Random bound queries (binary logits, boxes), ground truths and img_metas for one batch."""
    gen = torch.Generator().manual_seed(args.seed)
    preds, gts, metas = [], [], []
    for _ in range(args.batch):
        img_h = int(torch.randint(480, 801, (), generator=gen))
        img_w = int(torch.randint(640, 1334, (), generator=gen))
        query_labels = torch.arange(args.queries) % args.categories
        preds.append(InstanceData(query_labels=query_labels, scores=torch.randn(args.queries, 1, generator=gen),
                                  bboxes=random_boxes(args.queries, img_h, img_w, gen)))
        gts.append(InstanceData(labels=torch.randint(0, args.categories, (args.gts, ), generator=gen),
                                bboxes=random_boxes(args.gts, img_h, img_w, gen)))
        metas.append(dict(img_shape=(img_h, img_w)))
    return preds, gts, metas


def per_category_assign(assigner, pred: InstanceData, gt: InstanceData, img_meta: dict) -> Tuple[torch.Tensor,
                                                                                                 torch.Tensor]:
    """Reference group matching of one image: mmdet's ``HungarianAssigner`` once per category.

    Args:
        assigner: An mmdet ``HungarianAssigner`` (its classification cost sees a 1-class score map).
        pred: ``query_labels`` (Q, ), ``scores`` (Q, 1) or (Q, ) logits, ``bboxes`` (Q, 4).
        gt: ``labels`` (G, ), ``bboxes`` (G, 4).
        img_meta: With ``img_shape``.

    Returns:
        tuple[Tensor, Tensor]: ``gt_inds`` (Q, ) (0 unmatched, else 1-based gt index) and ``labels`` (Q, ).
    """
    num_queries = len(pred.query_labels)
    gt_inds = torch.zeros(num_queries, dtype=torch.long)
    labels = torch.full((num_queries, ), -1, dtype=torch.long)
    scores = pred.scores.reshape(-1, 1)
    for category in gt.labels.unique().tolist():
        query_idx = (pred.query_labels == category).nonzero().flatten()
        gt_idx = (gt.labels == category).nonzero().flatten()
        if len(query_idx) == 0:
            continue
        sub_pred = InstanceData(scores=scores[query_idx], bboxes=pred.bboxes[query_idx])
        sub_gt = InstanceData(labels=torch.zeros(len(gt_idx), dtype=torch.long), bboxes=gt.bboxes[gt_idx])
        result = assigner.assign(sub_pred, sub_gt, img_meta=img_meta)
        matched = result.gt_inds > 0
        gt_inds[query_idx[matched]] = gt_idx[result.gt_inds[matched] - 1] + 1
        labels[query_idx[matched]] = category
    return gt_inds, labels


def main(args: argparse.Namespace) -> None:
    import mmdet_detrx  # noqa: F401  (registers GroupHungarianAssigner)
    from mmdet.registry import TASK_UTILS

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    warm_allocator()
    ours = TASK_UTILS.build(dict(type='GroupHungarianAssigner', match_costs=MATCH_COSTS))
    ref = TASK_UTILS.build(dict(type='HungarianAssigner', match_costs=MATCH_COSTS))
    preds, gts, metas = make_batch(args)

    def run_ours():
        return ours.batch_assign(preds, gts, metas)

    def run_loop():
        return [per_category_assign(ref, p, g, m) for p, g, m in zip(preds, gts, metas)]

    if args.memory_worker:
        step = run_ours if args.memory_worker == 'ours' else run_loop
        print_worker_memory(step, args.mem_steps, args.memory_worker)
        return

    same = [
        torch.equal(a.gt_inds, b_inds) and torch.equal(a.labels, b_labels)
        for a, (b_inds, b_labels) in zip(run_ours(), run_loop())
    ]
    print(f'batch={args.batch} queries={args.queries} categories={args.categories} gts/image={args.gts} '
          f'torch_threads={torch.get_num_threads()}')
    print(f'identical assignments (gt_inds, labels) to the per-category HungarianAssigner loop: {all(same)} '
          f'({sum(same)}/{len(same)} images)')
    times = time_interleaved({'ours batch_assign': run_ours, 'per-category loop': run_loop},
                             repeats=args.repeats, warmup=args.warmup)
    ratio = summarize(times, ours='ours batch_assign', ref='per-category loop')
    if args.mem_steps:
        print(f'\npeak memory, one fresh process each, {args.mem_steps} batch assignments (mmdet = the loop)')
        print_memory(memory_in_subprocesses('group-hungarian', forwarded_argv(args)), what='assignment')
    print(f'ratio={ratio:.3f}')
    if not all(same):
        raise SystemExit('assignments differ from the per-category HungarianAssigner loop')
