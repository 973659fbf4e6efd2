"""Tests for BatchedHungarianAssigner and the batched match costs.

References: mmdet's HungarianAssigner / match costs (same config, same assignment) and, on tiny cases, a
brute-force solver over all injective matchings with costs written out per pair in float64.
"""
import argparse
import itertools
import math
from typing import List, Optional, Tuple

import pytest
import torch
from mmengine.structures import InstanceData

import mmdet_detrx  # noqa: F401
from mmdet.models.task_modules import HungarianAssigner
from mmdet.registry import TASK_UTILS
from mmdet_detrx.models.task_modules.assigners import BatchedHungarianAssigner
from mmdet_detrx.models.task_modules.match_costs import (BATCHED_MATCH_COSTS, BatchedFocalLossCost,
                                                         build_batched_match_cost)
from mmdet_detrx.models.task_modules.match_costs.batched_match_cost import (batched_pairwise_l1,
                                                                           batched_pairwise_overlaps)

DEFORMABLE_COSTS = [
    dict(type='FocalLossCost', weight=2.0),
    dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
    dict(type='IoUCost', iou_mode='giou', weight=2.0)
]
DETR_COSTS = [
    dict(type='ClassificationCost', weight=1.),
    dict(type='BBoxL1Cost', weight=5.0),
    dict(type='IoUCost', iou_mode='giou', weight=2.0)
]
ODD_COSTS = [  # non-default arguments everywhere, to see that each one is honoured
    dict(type='FocalLossCost', weight=1.5, alpha=0.4, gamma=1.5, eps=1e-6),
    dict(type='BBoxL1Cost', weight=3, box_format='xyxy'),
    dict(type='IoUCost', iou_mode='iou', weight=0.5)
]
ALL_COST_SETS = [DEFORMABLE_COSTS, DETR_COSTS, ODD_COSTS]


def random_boxes(num: int, img_h: int, img_w: int, gen: torch.Generator) -> torch.Tensor:
    """(num, 4) absolute xyxy boxes with positive size, roughly inside the image."""
    size = torch.tensor([img_w, img_h], dtype=torch.float32)
    top_left = torch.rand(num, 2, generator=gen) * size * 0.8
    wh = torch.rand(num, 2, generator=gen) * size * 0.4 + 1
    return torch.cat([top_left, top_left + wh], dim=1)


def random_batch(num_preds: List[int], num_gts: List[int], num_classes: int,
                 gen: torch.Generator) -> Tuple[List[InstanceData], List[InstanceData], List[dict]]:
    """Random logits/boxes per image; image sizes differ per image."""
    preds, gts, metas = [], [], []
    for q, g in zip(num_preds, num_gts):
        img_h = int(torch.randint(20, 900, (), generator=gen))
        img_w = int(torch.randint(20, 900, (), generator=gen))
        preds.append(InstanceData(scores=torch.randn(q, num_classes, generator=gen) * 3,
                                  bboxes=random_boxes(q, img_h, img_w, gen)))
        gts.append(InstanceData(labels=torch.randint(0, num_classes, (g, ), generator=gen),
                                bboxes=random_boxes(g, img_h, img_w, gen)))
        metas.append(dict(img_shape=(img_h, img_w)))
    return preds, gts, metas


def build_pair(match_costs) -> Tuple[BatchedHungarianAssigner, HungarianAssigner]:
    ours = TASK_UTILS.build(dict(type='BatchedHungarianAssigner', match_costs=match_costs))
    ref = TASK_UTILS.build(dict(type='HungarianAssigner', match_costs=match_costs))
    return ours, ref


def assert_same_result(ours, ref) -> None:
    assert ours.num_gts == ref.num_gts
    assert ours.max_overlaps is None and ref.max_overlaps is None
    assert ours.gt_inds.dtype == ref.gt_inds.dtype == torch.long
    assert torch.equal(ours.gt_inds, ref.gt_inds), (ours.gt_inds, ref.gt_inds)
    assert torch.equal(ours.labels, ref.labels), (ours.labels, ref.labels)


def mmdet_cost(ref: HungarianAssigner, pred: InstanceData, gt: InstanceData, meta: dict) -> torch.Tensor:
    return torch.stack([c(pred_instances=pred, gt_instances=gt, img_meta=meta) for c in ref.match_costs]).sum(0)


# ------------------------------------------------------------------------------------------------ registry / build
def test_registered_under_unique_names():
    for name in ('BatchedHungarianAssigner', 'BatchedFocalLossCost', 'BatchedClassificationCost',
                 'BatchedBBoxL1Cost', 'BatchedIoUCost'):
        cls = TASK_UTILS.get(name)
        assert cls is not None and cls.__module__.startswith('mmdet_detrx.'), name
    # every mmdet cost type that configs name maps to a batched subclass of it
    for mmdet_cls, batched_cls in BATCHED_MATCH_COSTS.items():
        assert issubclass(batched_cls, mmdet_cls)
        assert TASK_UTILS.get(mmdet_cls.__name__) is mmdet_cls


def test_build_maps_mmdet_costs_with_their_arguments():
    ours, _ = build_pair(ODD_COSTS)
    focal, l1, iou = ours.match_costs
    assert type(focal).__name__ == 'BatchedFocalLossCost'
    assert (focal.weight, focal.alpha, focal.gamma, focal.eps) == (1.5, 0.4, 1.5, 1e-6)
    assert (type(l1).__name__, l1.weight, l1.box_format) == ('BatchedBBoxL1Cost', 3, 'xyxy')
    assert (type(iou).__name__, iou.weight, iou.iou_mode) == ('BatchedIoUCost', 0.5, 'iou')
    # a config naming the batched class directly works too, and a single dict is accepted like mmdet does
    single = BatchedHungarianAssigner(match_costs=dict(type='BatchedFocalLossCost', gamma=3.))
    assert isinstance(single.match_costs[0], BatchedFocalLossCost) and single.match_costs[0].gamma == 3.


def test_build_errors():
    with pytest.raises(TypeError, match='DiceCost'):
        BatchedHungarianAssigner(match_costs=[dict(type='DiceCost')])
    # a subclass with other semantics is not silently treated as its parent
    with pytest.raises(TypeError, match='BinaryFocalLossCost'):
        build_batched_match_cost(dict(type='BinaryFocalLossCost'))
    with pytest.raises(KeyError, match='NoSuchCost'):
        BatchedHungarianAssigner(match_costs=[dict(type='NoSuchCost')])
    with pytest.raises(ValueError, match='non-empty'):
        BatchedHungarianAssigner(match_costs=[])
    with pytest.raises(AssertionError):  # mmdet's own argument check still runs
        BatchedHungarianAssigner(match_costs=[dict(type='BBoxL1Cost', box_format='cxcy')])


# ------------------------------------------------------------------------------------------------ batched costs
@pytest.mark.parametrize('cost_cfg', [
    dict(type='FocalLossCost'),
    dict(type='FocalLossCost', weight=2.5, alpha=0.7, gamma=3, eps=1e-4),
    dict(type='ClassificationCost', weight=1.3),
    dict(type='BBoxL1Cost', weight=5.0),
    dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
    dict(type='IoUCost', iou_mode='giou', weight=2.0),
    dict(type='IoUCost', iou_mode='iou', weight=1.0),
    dict(type='IoUCost', iou_mode='iof', weight=1.0),
])
@pytest.mark.parametrize('num_classes', [80, 3])  # 3 < num gts takes the compute-then-gather branch
def test_each_batched_cost_equals_mmdet(cost_cfg, num_classes):
    gen = torch.Generator().manual_seed(1)
    num_gts = [5, 0, 1, 9]
    preds, gts, metas = random_batch([7] * 4, num_gts, num_classes, gen)
    ours, ref = build_pair([cost_cfg])
    costs = ours.batch_cost(preds, gts, metas)
    for pred, gt, meta, cost in zip(preds, gts, metas, costs):
        expected = mmdet_cost(ref, pred, gt, meta)
        assert cost.shape == expected.shape == (7, len(gt))
        torch.testing.assert_close(cost, expected, rtol=1e-6, atol=1e-6)


def test_batched_cost_helpers_equal_mmdet_ops():
    from mmdet.structures.bbox import bbox_overlaps
    gen = torch.Generator().manual_seed(2)
    boxes1, boxes2 = torch.rand(3, 11, 4, generator=gen) * 50, torch.rand(3, 6, 4, generator=gen) * 50
    boxes2[0, 0] = 7.  # zero-area box; the others are partly malformed (x2 < x1), as a loss may produce
    for mode in ('iou', 'iof', 'giou'):
        # only exactly rounded ops (min/max/+-*/), in mmdet's order: bit-identical
        assert torch.equal(batched_pairwise_overlaps(boxes1, boxes2, mode), bbox_overlaps(boxes1, boxes2, mode=mode))
    torch.testing.assert_close(batched_pairwise_l1(boxes1, boxes2), torch.cdist(boxes1, boxes2, p=1))
    with pytest.raises(ValueError, match='diou'):
        batched_pairwise_overlaps(boxes1, boxes2, 'diou')


def test_mask_focal_cost_is_refused_by_name():
    with pytest.raises(ValueError, match='BatchedFocalLossCost: binary_input=True .*HungarianAssigner'):
        build_pair([dict(type='FocalLossCost', weight=2.0, binary_input=True)])


# ------------------------------------------------------------------------------------------------ assignment
@pytest.mark.parametrize('match_costs', ALL_COST_SETS)
def test_batch_assign_identical_to_mmdet_random(match_costs):
    ours, ref = build_pair(match_costs)
    gen = torch.Generator().manual_seed(4)
    num_images = 0
    for trial in range(25):
        batch = int(torch.randint(1, 5, (), generator=gen))
        num_queries = int(torch.randint(1, 25, (), generator=gen))
        # 0 and 1 gts, and more gts than queries, all appear
        num_gts = [int(torch.randint(0, 3, (), generator=gen)) if trial % 3 == 0 else
                   int(torch.randint(0, num_queries + 10, (), generator=gen)) for _ in range(batch)]
        preds, gts, metas = random_batch([num_queries] * batch, num_gts, 11, gen)
        for res, pred, gt, meta in zip(ours.batch_assign(preds, gts, metas), preds, gts, metas):
            assert_same_result(res, ref.assign(pred, gt, meta))
            num_images += 1
            # a valid one-to-one matching of min(Q, G) pairs
            matched = res.gt_inds[res.gt_inds > 0]
            assert len(matched) == min(len(pred), len(gt)) == len(set(matched.tolist()))
    assert num_images > 40


def test_batch_assign_detr_sized_batch_identical_to_mmdet():
    ours, ref = build_pair(DEFORMABLE_COSTS)
    gen = torch.Generator().manual_seed(5)
    preds, gts, metas = random_batch([300] * 4, [50, 0, 1, 23], 80, gen)
    for res, pred, gt, meta in zip(ours.batch_assign(preds, gts, metas), preds, gts, metas):
        assert_same_result(res, ref.assign(pred, gt, meta))


def test_images_with_different_numbers_of_queries():
    ours, ref = build_pair(DEFORMABLE_COSTS)
    gen = torch.Generator().manual_seed(6)
    preds, gts, metas = random_batch([9, 0, 4, 12, 3], [5, 3, 6, 0, 2], 7, gen)
    results = ours.batch_assign(preds, gts, metas)
    for res, pred, gt, meta in zip(results, preds, gts, metas):
        assert_same_result(res, ref.assign(pred, gt, meta))
    # Q=0: an empty result that still reports its gts (all of them unassigned)
    assert results[1].num_preds == 0 and results[1].num_gts == 3
    # G=0: every prediction is background
    assert results[3].gt_inds.tolist() == [0] * 12 and results[3].labels.tolist() == [-1] * 12


@pytest.mark.parametrize('num_preds,num_gts', [([0, 0], [3, 2]), ([5, 5], [0, 0]), ([0], [0])])
def test_batches_without_any_pair(num_preds, num_gts):
    ours, ref = build_pair(DEFORMABLE_COSTS)
    preds, gts, metas = random_batch(num_preds, num_gts, 4, torch.Generator().manual_seed(7))
    for res, pred, gt, meta in zip(ours.batch_assign(preds, gts, metas), preds, gts, metas):
        assert_same_result(res, ref.assign(pred, gt, meta))
    assert [c.shape for c in ours.batch_cost(preds, gts, metas)] == [(q, g) for q, g in zip(num_preds, num_gts)]


def test_prediction_instances_without_fields_when_empty():
    # mmdet accepts an empty InstanceData() for an image without predictions; so do we
    ours, ref = build_pair(DEFORMABLE_COSTS)
    preds, gts, metas = random_batch([5, 5], [2, 3], 4, torch.Generator().manual_seed(17))
    preds[1] = InstanceData()
    for res, pred, gt, meta in zip(ours.batch_assign(preds, gts, metas), preds, gts, metas):
        assert_same_result(res, ref.assign(pred, gt, meta))


def test_assign_with_edited_costs():
    # the METR-style use: take batch_cost, forbid some pairs, solve
    ours, ref = build_pair(DETR_COSTS)
    preds, gts, metas = random_batch([5, 6], [3, 2], 4, torch.Generator().manual_seed(18))
    costs = [c.clone() for c in ours.batch_cost(preds, gts, metas)]
    unedited = ours.assign_with_costs(costs, gts)
    for res, pred, gt, meta in zip(unedited, preds, gts, metas):
        assert_same_result(res, ref.assign(pred, gt, meta))
    costs[0][:, 0] = float('inf')
    costs[0][4, 0] = 0.  # gt 0 of image 0 may only go to query 4
    edited = ours.assign_with_costs(costs, gts)
    assert edited[0].gt_inds[4] == 1 and (edited[0].gt_inds == 1).sum() == 1 and edited[0].labels[4] == gts[0].labels[0]
    best, _, best_map = brute_force(costs[0].tolist())
    assert {q: int(g) - 1 for q, g in enumerate(edited[0].gt_inds.tolist()) if g > 0} == best_map
    assert_same_result(edited[1], unedited[1])
    costs[1][0, 0] = float('nan')
    with pytest.raises(ValueError, match='image 1 contains NaN'):
        ours.assign_with_costs(costs, gts)
    with pytest.raises(ValueError, match=r'expected \(Q, 2\)'):
        ours.assign_with_costs([costs[0], costs[1][:, :1]], gts)


def test_single_image_assign_matches_mmdet_and_batch():
    ours, ref = build_pair(DETR_COSTS)
    preds, gts, metas = random_batch([10, 10], [4, 13], 5, torch.Generator().manual_seed(8))
    batched = ours.batch_assign(preds, gts, metas)
    for res, pred, gt, meta in zip(batched, preds, gts, metas):
        single = ours.assign(pred, gt, meta)
        assert_same_result(single, ref.assign(pred, gt, meta))
        assert_same_result(single, res)


# ------------------------------------------------------------------------------------------------ brute force
def ref_pair_cost(logits: List[float], box: List[float], label: int, gt_box: List[float], img_hw,
                  alpha=0.25, gamma=2.0, eps=1e-12) -> float:
    """Deformable-DETR matching cost of one (prediction, gt) pair, written out in float64."""
    prob = 1 / (1 + math.exp(-logits[label]))
    pos = -math.log(prob + eps) * alpha * (1 - prob)**gamma
    neg = -math.log(1 - prob + eps) * (1 - alpha) * prob**gamma
    focal = pos - neg

    def cxcywh_normed(b):
        h, w = img_hw
        return [(b[0] + b[2]) / 2 / w, (b[1] + b[3]) / 2 / h, (b[2] - b[0]) / w, (b[3] - b[1]) / h]

    l1 = sum(abs(a - b) for a, b in zip(cxcywh_normed(box), cxcywh_normed(gt_box)))

    def area(b):
        return (b[2] - b[0]) * (b[3] - b[1])

    inter = max(0., min(box[2], gt_box[2]) - max(box[0], gt_box[0])) * \
        max(0., min(box[3], gt_box[3]) - max(box[1], gt_box[1]))
    union = area(box) + area(gt_box) - inter
    enclose = (max(box[2], gt_box[2]) - min(box[0], gt_box[0])) * (max(box[3], gt_box[3]) - min(box[1], gt_box[1]))
    giou = inter / union - (enclose - union) / enclose
    return 2.0 * focal + 5.0 * l1 - 2.0 * giou


def brute_force(cost: List[List[float]]) -> Tuple[float, float, Optional[dict]]:
    """Min total cost over all matchings of min(Q, G) pairs; returns (best, second best, best pred->gt map)."""
    num_preds, num_gts = len(cost), len(cost[0]) if cost else 0
    totals = []
    if num_gts <= num_preds:
        for preds_of_gts in itertools.permutations(range(num_preds), num_gts):
            totals.append((sum(cost[q][g] for g, q in enumerate(preds_of_gts)),
                           {q: g for g, q in enumerate(preds_of_gts)}))
    else:
        for gts_of_preds in itertools.permutations(range(num_gts), num_preds):
            totals.append((sum(cost[q][g] for q, g in enumerate(gts_of_preds)), dict(enumerate(gts_of_preds))))
    totals.sort(key=lambda t: t[0])
    second = totals[1][0] if len(totals) > 1 else math.inf
    return totals[0][0], second, totals[0][1]


def test_equals_brute_force_on_tiny_cases():
    ours, _ = build_pair(DEFORMABLE_COSTS)
    gen = torch.Generator().manual_seed(9)
    compared_indices = cases = 0
    for _ in range(30):
        batch = 3
        num_queries = int(torch.randint(1, 6, (), generator=gen))
        num_gts = [int(torch.randint(1, 5, (), generator=gen)) for _ in range(batch)]
        preds, gts, metas = random_batch([num_queries] * batch, num_gts, 4, gen)
        for res, pred, gt, meta in zip(ours.batch_assign(preds, gts, metas), preds, gts, metas):
            cost = [[ref_pair_cost(pred.scores[q].tolist(), pred.bboxes[q].tolist(), int(gt.labels[g]),
                                   gt.bboxes[g].tolist(), meta['img_shape']) for g in range(len(gt))]
                    for q in range(len(pred))]
            best, second, best_map = brute_force(cost)
            ours_map = {q: int(g) - 1 for q, g in enumerate(res.gt_inds.tolist()) if g > 0}
            assert len(ours_map) == min(len(pred), len(gt))
            assert sum(cost[q][g] for q, g in ours_map.items()) == pytest.approx(best, rel=1e-6, abs=1e-5)
            cases += 1
            if second - best > 1e-4:  # unique optimum: indices must agree too
                assert ours_map == best_map
                assert res.labels.tolist() == [int(gt.labels[best_map[q]]) if q in best_map else -1
                                               for q in range(len(pred))]
                compared_indices += 1
    assert cases == 90 and compared_indices > 80


def test_brute_force_with_ties_compares_total_cost():
    # identical predictions make many optimal matchings; only the total cost is defined
    ours, _ = build_pair(DEFORMABLE_COSTS)
    gt = InstanceData(labels=torch.tensor([0, 1, 0]), bboxes=torch.tensor([[0., 0, 10, 10], [5, 5, 20, 20],
                                                                          [30, 30, 40, 50]]))
    pred = InstanceData(scores=torch.zeros(4, 2), bboxes=torch.tensor([[0., 0, 10, 10]] * 2 + [[30., 30, 40, 50]] * 2))
    meta = dict(img_shape=(60, 60))
    res = ours.assign(pred, gt, meta)
    cost = [[ref_pair_cost(pred.scores[q].tolist(), pred.bboxes[q].tolist(), int(gt.labels[g]), gt.bboxes[g].tolist(),
                           (60, 60)) for g in range(3)] for q in range(4)]
    best, second, _ = brute_force(cost)
    assert second == pytest.approx(best)  # really a tie
    total = sum(cost[q][int(g) - 1] for q, g in enumerate(res.gt_inds.tolist()) if g > 0)
    assert total == pytest.approx(best, rel=1e-6)


# ------------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize('field,index,value,cost_name', [
    ('scores', (2, ), float('nan'), 'FocalLossCost'),  # a whole row: every gt's class is NaN
    ('bboxes', (1, 2), float('nan'), 'BBoxL1Cost'),
    ('bboxes', (0, 0), float('inf'), 'BBoxL1Cost'),
])
def test_non_finite_costs_name_image_and_cost(field, index, value, cost_name):
    ours, _ = build_pair(DEFORMABLE_COSTS)
    preds, gts, metas = random_batch([6, 6, 6], [2, 3, 1], 8, torch.Generator().manual_seed(10))
    getattr(preds[1], field)[index] = value
    with pytest.raises(ValueError, match=rf'{cost_name}.*image 1 '):
        ours.batch_assign(preds, gts, metas)


def test_non_finite_gt_box_is_reported():
    ours, _ = build_pair(DETR_COSTS)
    preds, gts, metas = random_batch([6, 6], [2, 3], 8, torch.Generator().manual_seed(11))
    gts[1].bboxes[2, 3] = float('nan')
    with pytest.raises(ValueError, match='BBoxL1Cost.*image 1 '):
        ours.batch_assign(preds, gts, metas)


def test_non_finite_prediction_in_padding_only_is_ignored():
    # image 0 has no gts, so mmdet never looks at its (NaN) predictions; neither do we
    ours, ref = build_pair(DEFORMABLE_COSTS)
    preds, gts, metas = random_batch([4, 4], [0, 3], 5, torch.Generator().manual_seed(12))
    preds[0].scores[1, 1] = float('nan')
    for res, pred, gt, meta in zip(ours.batch_assign(preds, gts, metas), preds, gts, metas):
        assert_same_result(res, ref.assign(pred, gt, meta))


def test_malformed_inputs_raise_clear_errors():
    ours, _ = build_pair(DEFORMABLE_COSTS)
    preds, gts, metas = random_batch([4, 4], [2, 3], 5, torch.Generator().manual_seed(13))
    with pytest.raises(ValueError, match='batch sizes differ'):
        ours.batch_assign(preds, gts, metas[:1])
    with pytest.raises(ValueError, match='img_shape'):
        ours.batch_assign(preds, gts, [metas[0], dict()])
    with pytest.raises(ValueError, match="image 1 has no 'scores'"):
        ours.batch_assign([preds[0], InstanceData(bboxes=preds[1].bboxes)], gts, metas)
    bad_classes = [preds[0], InstanceData(scores=torch.zeros(4, 6), bboxes=preds[1].bboxes)]
    with pytest.raises(ValueError, match='image 1 has shape'):
        ours.batch_assign(bad_classes, gts, metas)
    bad_labels = [gts[0], InstanceData(labels=torch.tensor([0, 5, 1]), bboxes=gts[1].bboxes)]
    with pytest.raises(ValueError, match='gt label 5 is out of range'):
        ours.batch_assign(preds, bad_labels, metas)
    with pytest.raises(ValueError, match=r'bboxes must have shape \(N, 4\)'):
        ours.batch_assign([InstanceData(scores=p.scores, bboxes=p.bboxes[:, :3]) for p in preds], gts, metas)


# ------------------------------------------------------------------------------------------------ dtypes / grad
def test_fp16_inputs_computed_in_float32():
    ours, ref = build_pair(DEFORMABLE_COSTS)
    preds, gts, metas = random_batch([20, 20], [6, 25], 9, torch.Generator().manual_seed(14))
    half_preds = [InstanceData(scores=p.scores.half(), bboxes=p.bboxes.half()) for p in preds]
    float_preds = [InstanceData(scores=p.scores.float(), bboxes=p.bboxes.float()) for p in half_preds]
    half_costs = ours.batch_cost(half_preds, gts, metas)
    for cost, expected in zip(half_costs, ours.batch_cost(float_preds, gts, metas)):
        assert cost.dtype == torch.float32 and torch.equal(cost, expected)
    for res, pred, gt, meta in zip(ours.batch_assign(half_preds, gts, metas), float_preds, gts, metas):
        assert_same_result(res, ref.assign(pred, gt, meta))


def test_float64_inputs_stay_float64():
    ours, ref = build_pair(DEFORMABLE_COSTS)
    preds, gts, metas = random_batch([7, 7], [3, 9], 5, torch.Generator().manual_seed(19))
    preds = [InstanceData(scores=p.scores.double(), bboxes=p.bboxes.double()) for p in preds]
    gts = [InstanceData(labels=g.labels, bboxes=g.bboxes.double()) for g in gts]
    for cost, pred, gt, meta in zip(ours.batch_cost(preds, gts, metas), preds, gts, metas):
        assert cost.dtype == torch.float64
        torch.testing.assert_close(cost, mmdet_cost(ref, pred, gt, meta))
    for res, pred, gt, meta in zip(ours.batch_assign(preds, gts, metas), preds, gts, metas):
        assert_same_result(res, ref.assign(pred, gt, meta))


def test_autocast_does_not_lower_cost_precision():
    ours, _ = build_pair(DEFORMABLE_COSTS)
    gen = torch.Generator().manual_seed(15)
    preds, gts, metas = random_batch([30, 30], [10, 40], 9, gen)
    expected = ours.batch_cost(preds, gts, metas)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        costs = ours.batch_cost(preds, gts, metas)
    for cost, exp in zip(costs, expected):
        assert cost.dtype == torch.float32 and torch.equal(cost, exp)


def test_inputs_requiring_grad_give_costs_without_graph():
    ours, ref = build_pair(DEFORMABLE_COSTS)
    preds, gts, metas = random_batch([8, 8], [3, 5], 4, torch.Generator().manual_seed(16))
    for p in preds:
        p.scores.requires_grad_(True)
        p.bboxes.requires_grad_(True)
    assert all(not c.requires_grad for c in ours.batch_cost(preds, gts, metas))
    for res, pred, gt, meta in zip(ours.batch_assign(preds, gts, metas), preds, gts, metas):
        assert_same_result(res, ref.assign(pred, gt, meta))


# ------------------------------------------------------------------------------------------------ benchmark
def test_benchmark_subcommand_smoke(capsys):
    from tools.bench import hungarian
    parser = argparse.ArgumentParser()
    hungarian.add_arguments(parser)
    hungarian.main(parser.parse_args(['--batch', '2', '--queries', '12', '--gts', '4', '--classes', '5',
                                      '--repeats', '1', '--warmup', '0', '--vary-gts']))
    lines = capsys.readouterr().out.strip().splitlines()
    assert any('identical assignments' in line and ': True' in line for line in lines)
    assert lines[-1].startswith('ratio=') and float(lines[-1][len('ratio='):]) > 0
    assert sum(line.startswith('ratio=') for line in lines) == 1
