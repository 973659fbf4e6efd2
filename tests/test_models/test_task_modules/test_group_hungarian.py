"""Tests for GroupHungarianAssigner (METR): category-restricted one-to-one matching.

Matching semantics checked here: per image, the number of matched gts is maximal under the constraint that a gt
only matches a query bound to its category (that maximum is ``sum_c min(Q_c, G_c)``), and among those matchings
the total cost is minimal. References: brute force over every valid partial matching on tiny cases, with costs
from mmdet's own single-image match costs in float64, and a per-category loop of mmdet's HungarianAssigner.
"""
import argparse
import itertools
from typing import List, Optional, Tuple

import pytest
import torch
from mmengine.structures import InstanceData

import mmdet_detrx  # noqa: F401
from mmdet.registry import TASK_UTILS
from mmdet_detrx.models.task_modules.assigners import GroupHungarianAssigner
from mmdet_detrx.models.task_modules.assigners.group_hungarian import solve_with_forbidden_pairs

from tools.bench import group_hungarian as bench_group

DEFORMABLE_COSTS = [
    dict(type='FocalLossCost', weight=2.0),
    dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
    dict(type='IoUCost', iou_mode='giou', weight=2.0)
]
ODD_COSTS = [
    dict(type='FocalLossCost', weight=1.5, alpha=0.4, gamma=1.5),
    dict(type='BBoxL1Cost', weight=3.0, box_format='xyxy'),
    dict(type='IoUCost', iou_mode='iou', weight=0.5)
]


def random_boxes(num: int, img_h: int, img_w: int, gen: torch.Generator) -> torch.Tensor:
    """(num, 4) absolute xyxy boxes with positive size."""
    size = torch.tensor([img_w, img_h], dtype=torch.float32)
    top_left = torch.rand(num, 2, generator=gen) * size * 0.8
    wh = torch.rand(num, 2, generator=gen) * size * 0.4 + 1
    return torch.cat([top_left, top_left + wh], dim=1)


def random_image(query_labels: List[int], gt_labels: List[int],
                 gen: torch.Generator) -> Tuple[InstanceData, InstanceData, dict]:
    """Bound queries with one logit each, gts of the given categories, and an img_meta."""
    img_h = int(torch.randint(50, 900, (), generator=gen))
    img_w = int(torch.randint(50, 900, (), generator=gen))
    q, g = len(query_labels), len(gt_labels)
    pred = InstanceData(query_labels=torch.tensor(query_labels, dtype=torch.long).reshape(q),
                        scores=torch.randn(q, 1, generator=gen) * 3, bboxes=random_boxes(q, img_h, img_w, gen))
    gt = InstanceData(labels=torch.tensor(gt_labels, dtype=torch.long).reshape(g),
                      bboxes=random_boxes(g, img_h, img_w, gen))
    return pred, gt, dict(img_shape=(img_h, img_w))


def reference_cost(match_costs: List[dict], pred: InstanceData, gt: InstanceData, meta: dict) -> torch.Tensor:
    """(Q, G) float64 cost of every pair as mmdet's match costs compute it for a 1-class score map."""
    pred64 = InstanceData(scores=pred.scores.reshape(-1, 1).double(), bboxes=pred.bboxes.double())
    gt64 = InstanceData(labels=torch.zeros(len(gt), dtype=torch.long), bboxes=gt.bboxes.double())
    return sum(TASK_UTILS.build(cfg)(pred64, gt64, meta) for cfg in match_costs)


def brute_force(cost: torch.Tensor, query_labels: torch.Tensor, gt_labels: torch.Tensor) -> Tuple[int, float]:
    """(max number of matched gts, min total cost among matchings with that many) over all valid matchings."""
    options = [[None] + [q for q in range(len(query_labels)) if query_labels[q] == label] for label in gt_labels]
    best: Optional[Tuple[int, float]] = None
    for choice in itertools.product(*options):
        used = [q for q in choice if q is not None]
        if len(used) != len(set(used)):
            continue
        key = (-len(used), sum(float(cost[q, g]) for g, q in enumerate(choice) if q is not None))
        if best is None or key < best:
            best = key
    return -best[0], best[1]


def check_valid(result, pred: InstanceData, gt: InstanceData) -> None:
    """Matched pairs share the category, each gt is matched at most once, labels are the gts' labels."""
    matched = (result.gt_inds > 0).nonzero().flatten()
    gt_idx = result.gt_inds[matched] - 1
    assert len(set(gt_idx.tolist())) == len(gt_idx)
    assert torch.equal(pred.query_labels[matched], gt.labels[gt_idx])
    assert torch.equal(result.labels[matched], gt.labels[gt_idx])
    assert (result.labels[result.gt_inds == 0] == -1).all()
    assert result.num_gts == len(gt)


def per_category_max(query_labels: torch.Tensor, gt_labels: torch.Tensor) -> int:
    """sum_c min(Q_c, G_c)."""
    return sum(min(int((query_labels == c).sum()), int((gt_labels == c).sum())) for c in gt_labels.unique())


def test_registered_under_unique_name():
    assert TASK_UTILS.get('GroupHungarianAssigner') is GroupHungarianAssigner
    assert GroupHungarianAssigner.__module__.startswith('mmdet_detrx.')


@pytest.mark.parametrize('match_costs', [DEFORMABLE_COSTS, ODD_COSTS])
def test_matches_brute_force_on_tiny_cases(match_costs):
    """Maximal cardinality first, then minimal total cost, on random cases with Q<=6, G<=4 and 2-3 categories."""
    gen = torch.Generator().manual_seed(0)
    assigner = TASK_UTILS.build(dict(type='GroupHungarianAssigner', match_costs=match_costs))
    short_of_queries = 0
    for _ in range(60):
        num_cats = int(torch.randint(2, 4, (), generator=gen))
        q = int(torch.randint(1, 7, (), generator=gen))
        g = int(torch.randint(1, 5, (), generator=gen))
        query_labels = torch.randint(-1, num_cats, (q, ), generator=gen).tolist()
        gt_labels = torch.randint(0, num_cats, (g, ), generator=gen).tolist()
        pred, gt, meta = random_image(query_labels, gt_labels, gen)
        result = assigner.assign(pred, gt, meta)
        check_valid(result, pred, gt)
        cost = reference_cost(match_costs, pred, gt, meta)
        best_count, best_cost = brute_force(cost, pred.query_labels, gt.labels)
        matched = (result.gt_inds > 0).nonzero().flatten()
        ours_cost = sum(float(cost[qi, result.gt_inds[qi] - 1]) for qi in matched)
        assert len(matched) == best_count == per_category_max(pred.query_labels, gt.labels)
        assert ours_cost == pytest.approx(best_cost, abs=1e-4)
        short_of_queries += best_count < g
    assert short_of_queries > 10  # the cases do exercise unmatched gts


def test_maximal_cardinality_beats_lower_cost():
    """With all costs positive, matching nothing is cheapest; the assigner still matches every matchable gt."""
    gen = torch.Generator().manual_seed(1)
    pred, gt, meta = random_image([0, 0, 1, 1, -1], [0, 1, 1, 1], gen)
    pred.scores = torch.full((5, 1), -8.0)  # focal cost of "positive" is large and positive
    assigner = GroupHungarianAssigner([dict(type='FocalLossCost', weight=2.0),
                                       dict(type='BBoxL1Cost', weight=5.0)])
    cost = assigner.batch_cost([pred], [gt], [meta])[0]
    assert (cost[torch.isfinite(cost)] > 0).all()
    result = assigner.assign(pred, gt, meta)
    check_valid(result, pred, gt)
    assert int((result.gt_inds > 0).sum()) == 3  # 1 of category 0, 2 (of 3) of category 1


def test_identical_to_per_category_hungarian_loop():
    """Same assignments as mmdet's HungarianAssigner run per category, with unbound queries and odd categories."""
    gen = torch.Generator().manual_seed(2)
    ours = TASK_UTILS.build(dict(type='GroupHungarianAssigner', match_costs=DEFORMABLE_COSTS))
    ref = TASK_UTILS.build(dict(type='HungarianAssigner', match_costs=DEFORMABLE_COSTS))
    preds, gts, metas = [], [], []
    for num_q, num_g in [(40, 12), (30, 25), (17, 0), (25, 3), (60, 40)]:
        query_labels = torch.randint(-1, 5, (num_q, ), generator=gen).tolist()
        gt_labels = torch.randint(0, 6, (num_g, ), generator=gen).tolist()  # category 5 has no query
        pred, gt, meta = random_image(query_labels, gt_labels, gen)
        preds.append(pred)
        gts.append(gt)
        metas.append(meta)
    results = ours.batch_assign(preds, gts, metas)
    for result, pred, gt, meta in zip(results, preds, gts, metas):
        ref_inds, ref_labels = bench_group.per_category_assign(ref, pred, gt, meta)
        assert torch.equal(result.gt_inds, ref_inds)
        assert torch.equal(result.labels, ref_labels)
        check_valid(result, pred, gt)
    # batching does not change anything
    for i, (pred, gt, meta) in enumerate(zip(preds, gts, metas)):
        single = ours.assign(pred, gt, meta)
        assert torch.equal(single.gt_inds, results[i].gt_inds)


def test_solve_with_forbidden_pairs_vs_brute_force():
    """Any inf pattern (not only per-category blocks): most finite pairs first, then least cost."""
    gen = torch.Generator().manual_seed(6)
    for _ in range(150):
        q = int(torch.randint(1, 7, (), generator=gen))
        g = int(torch.randint(1, 5, (), generator=gen))
        cost = torch.randn(q, g, generator=gen, dtype=torch.float64) * 10 + 3
        cost[torch.rand(q, g, generator=gen) < 0.5] = float('inf')
        rows, cols = solve_with_forbidden_pairs(cost.numpy())
        assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
        assert torch.isfinite(cost[rows, cols]).all()
        # brute force over all partial injective maps gt -> query using finite pairs only
        options = [[None] + [r for r in range(q) if torch.isfinite(cost[r, c])] for c in range(g)]
        best = None
        for choice in itertools.product(*options):
            used = [r for r in choice if r is not None]
            if len(used) != len(set(used)):
                continue
            key = (-len(used), sum(float(cost[r, c]) for c, r in enumerate(choice) if r is not None))
            best = key if best is None or key < best else best
        assert len(rows) == -best[0]
        assert float(cost[rows, cols].sum()) == pytest.approx(best[1], abs=1e-9)
    all_inf = torch.full((3, 2), float('inf')).numpy()
    assert len(solve_with_forbidden_pairs(all_inf)[0]) == 0


def test_assign_with_costs_on_masked_batch_cost():
    """batch_cost (inf at forbidden pairs) + assign_with_costs == batch_assign, with no scipy error."""
    gen = torch.Generator().manual_seed(7)
    assigner = GroupHungarianAssigner(DEFORMABLE_COSTS)
    preds, gts, metas = [], [], []
    for num_q, num_g in [(12, 5), (6, 9), (5, 0), (8, 4)]:
        pred, gt, meta = random_image(torch.randint(-1, 3, (num_q, ), generator=gen).tolist(),
                                      torch.randint(0, 4, (num_g, ), generator=gen).tolist(), gen)
        preds.append(pred)
        gts.append(gt)
        metas.append(meta)
    costs = assigner.batch_cost(preds, gts, metas)
    assert any(torch.isinf(c[:, j]).all() for c in costs for j in range(c.size(1)))  # an all-inf column
    for ours, direct in zip(assigner.assign_with_costs(costs, gts), assigner.batch_assign(preds, gts, metas)):
        assert torch.equal(ours.gt_inds, direct.gt_inds) and torch.equal(ours.labels, direct.labels)
    with pytest.raises(ValueError, match='-inf'):
        assigner.assign_with_costs([-costs[0]], [gts[0]])


def test_batch_cost_forbids_other_categories():
    gen = torch.Generator().manual_seed(3)
    pred, gt, meta = random_image([0, 1, -1, 1, 2], [1, 0, 0, 3], gen)
    assigner = GroupHungarianAssigner(DEFORMABLE_COSTS)
    cost = assigner.batch_cost([pred], [gt], [meta])[0]
    assert cost.shape == (5, 4) and cost.dtype == torch.float32
    allowed = pred.query_labels[:, None] == gt.labels[None, :]
    assert torch.isinf(cost[~allowed]).all() and (cost[~allowed] > 0).all()
    ref = reference_cost(DEFORMABLE_COSTS, pred, gt, meta)
    torch.testing.assert_close(cost[allowed].double(), ref[allowed], rtol=1e-5, atol=1e-5)
    assert torch.isinf(cost[2]).all()  # unbound query
    assert torch.isinf(cost[:, 3]).all()  # category without a query


def test_scores_shape_q_and_q1_agree():
    gen = torch.Generator().manual_seed(4)
    pred, gt, meta = random_image([0, 1, 0, 1, 1, 0], [0, 1, 1], gen)
    flat = InstanceData(query_labels=pred.query_labels, scores=pred.scores[:, 0], bboxes=pred.bboxes)
    assigner = GroupHungarianAssigner(DEFORMABLE_COSTS)
    assert torch.equal(assigner.assign(pred, gt, meta).gt_inds, assigner.assign(flat, gt, meta).gt_inds)


def test_edge_cases_do_not_crash():
    gen = torch.Generator().manual_seed(5)
    assigner = GroupHungarianAssigner(DEFORMABLE_COSTS)
    cases = [
        ([0, 1, 1], []),  # no gts
        ([-1, -1, -1], [0, 1]),  # only unbound queries
        ([0, 0], [1, 1, 2]),  # no query of any gt's category
        ([0], [0, 0, 0, 0]),  # more gts than queries
        ([0, 1, 0, 1], [0, 0, 0, 1]),
    ]
    preds, gts, metas = [], [], []
    for query_labels, gt_labels in cases:
        pred, gt, meta = random_image(query_labels, gt_labels, gen)
        preds.append(pred)
        gts.append(gt)
        metas.append(meta)
    preds.append(InstanceData())  # an image without queries (and without their fields)
    gts.append(InstanceData(labels=torch.tensor([0]), bboxes=torch.tensor([[1., 2., 30., 40.]])))
    metas.append(dict(img_shape=(100, 100)))
    results = assigner.batch_assign(preds, gts, metas)
    expected_matched = [0, 0, 0, 1, 3, 0]
    for result, pred, gt, n in zip(results, preds, gts, expected_matched):
        assert int((result.gt_inds > 0).sum()) == n
        assert result.num_gts == len(gt)
        if len(pred):
            check_valid(result, pred, gt)
    assert results[-1].gt_inds.shape == (0, )
    # every image empty: no cost is computed at all
    empty = assigner.batch_assign([preds[0]], [gts[0]], [metas[0]])[0]
    assert (empty.gt_inds == 0).all() and empty.gt_inds.shape == (3, )


@pytest.mark.parametrize('scores, query_labels, match', [
    (torch.zeros(3, 2), torch.tensor([0, 1, 0]), 'one logit per query'),
    (torch.zeros(3, 1), torch.tensor([0, -2, 0]), 'use -1 for unbound'),
    (torch.zeros(3, 1), torch.tensor([0., 1., 0.]), 'integer'),
    (torch.zeros(3, 1), torch.tensor([0, 1]), '2 entries for 3 queries'),
])
def test_clear_errors_for_bad_queries(scores, query_labels, match):
    pred = InstanceData(scores=scores, bboxes=torch.tensor([[0., 0., 10., 10.]] * 3))
    pred.set_field(query_labels, 'query_labels', dtype=torch.Tensor)
    gt = InstanceData(labels=torch.tensor([0]), bboxes=torch.tensor([[1., 1., 5., 5.]]))
    with pytest.raises(ValueError, match=match):
        GroupHungarianAssigner(DEFORMABLE_COSTS).assign(pred, gt, dict(img_shape=(20, 20)))


def test_missing_query_labels_and_classification_cost_are_refused():
    pred = InstanceData(scores=torch.zeros(2, 1), bboxes=torch.tensor([[0., 0., 10., 10.]] * 2))
    gt = InstanceData(labels=torch.tensor([0]), bboxes=torch.tensor([[1., 1., 5., 5.]]))
    with pytest.raises(ValueError, match='query_labels'):
        GroupHungarianAssigner(DEFORMABLE_COSTS).assign(pred, gt, dict(img_shape=(20, 20)))
    with pytest.raises(ValueError, match='FocalLossCost'):
        GroupHungarianAssigner([dict(type='ClassificationCost', weight=1.0)])


def test_benchmark_subcommand_smoke(capsys):
    args = argparse.Namespace(batch=2, queries=40, categories=4, gts=8, repeats=1, warmup=0, threads=1, seed=0,
                              mem_steps=0, memory_worker=None)
    bench_group.main(args)
    out = capsys.readouterr().out
    assert 'identical assignments (gt_inds, labels) to the per-category HungarianAssigner loop: True' in out
    assert out.strip().splitlines()[-1].startswith('ratio=')
