"""METR's group Hungarian assignment: each query may only match ground truths of the category it is bound to."""
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine import ConfigDict
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from mmdet.models.task_modules.assigners.assign_result import AssignResult
from mmdet.registry import TASK_UTILS
from mmdet.utils import InstanceList
from ..match_costs.batched_match_cost import BatchedClassificationCost
from .batched_hungarian import BatchedHungarianAssigner


def solve_with_forbidden_pairs(cost: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Maximum-cardinality, then minimum-cost, one-to-one matching where ``inf`` entries are forbidden.

    Rows and columns without any finite entry are dropped first (scipy's ``linear_sum_assignment`` raises on
    them). The rest is solved once with every ``inf`` replaced by a penalty ``M`` larger than the spread of any
    matching's finite cost (``M = n * (max - min) + 1`` on costs shifted to start at 0, n the matching size), so
    one more finite pair always outweighs any cost difference; matched pairs that landed on a penalty are
    discarded.

    Args:
        cost: (Q, G) cost, ``inf`` for forbidden pairs (no NaN or ``-inf``).

    Returns:
        tuple[np.ndarray, np.ndarray]: Matched row and column indices (int64), rows ascending.
    """
    finite = np.isfinite(cost)
    row_idx = np.flatnonzero(finite.any(1))
    col_idx = np.flatnonzero(finite.any(0))
    if len(row_idx) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    sub = cost[np.ix_(row_idx, col_idx)].astype(np.float64)
    sub_finite = finite[np.ix_(row_idx, col_idx)]
    if not sub_finite.all():
        low = sub[sub_finite].min()
        spread = sub[sub_finite].max() - low
        sub = sub - low
        sub[~sub_finite] = min(sub.shape) * spread + 1.0
    rows, cols = linear_sum_assignment(sub)
    keep = sub_finite[rows, cols]
    return row_idx[rows[keep]].astype(np.int64), col_idx[cols[keep]].astype(np.int64)


@TASK_UTILS.register_module()
class GroupHungarianAssigner(BatchedHungarianAssigner):
    """One-to-one matching where each query is bound to one category (METR's class-specific queries).

    Every query ``q`` carries ``query_labels[q]``: the category it looks for, or -1 for an unbound query. A
    ground truth of category ``c`` can only be matched to a query bound to ``c``; all other pairs are forbidden
    (``inf`` in :meth:`batch_cost`). Each query has ONE classification logit, "an object of my category or not",
    so the classification cost of pair (q, g) is the cost of calling query ``q``'s logit positive; the box costs
    are the usual ones. Configured like mmdet's ``HungarianAssigner``::

        assigner=dict(
            type='GroupHungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0),  # on the single per-query logit
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])

    The costs of the whole batch are computed with :class:`BatchedHungarianAssigner`'s batched costs, the binary
    logit being treated as a 1-class score map (every gt reads column 0). ``ClassificationCost`` is refused:
    a softmax over one logit is constant.

    Matching semantics. Since pairs of different categories are forbidden, the problem splits into one
    independent problem per category. Per image, the returned matching is one that

    1. matches as many gts as possible: ``sum_c min(Q_c, G_c)`` where ``Q_c`` / ``G_c`` count the queries bound
       to / gts of category ``c`` (so extra gts of a category with fewer queries stay unmatched, and gts of a
       category without any query are never matched), and
    2. among those, has the smallest total cost.

    Each category block is all-finite, so scipy's ``linear_sum_assignment`` is run on it only (forbidden pairs
    never reach scipy, which raises on rows or columns that are all ``inf``).

    :meth:`batch_cost` gives the costs with ``inf`` at forbidden pairs; :meth:`assign_with_costs` solves such
    (possibly edited) costs with the same semantics for any pattern of ``inf`` (see
    :func:`solve_with_forbidden_pairs`).

    Result, as ``HungarianAssigner``'s: ``gt_inds`` (Q, ) 0 for unmatched queries, else the 1-based gt index;
    ``labels`` (Q, ) the matched gt's label, -1 elsewhere.

    Args:
        match_costs (dict | ConfigDict | list): Match-cost configs as for ``HungarianAssigner`` (see
            :class:`BatchedHungarianAssigner` for the supported types); a classification cost reads the
            single per-query logit.
    """

    def __init__(self, match_costs: Union[List[Union[dict, ConfigDict]], dict, ConfigDict]) -> None:
        super().__init__(match_costs)
        for name, cost in zip(self.cost_names, self.match_costs):
            if isinstance(cost, BatchedClassificationCost):
                raise ValueError(f'{name}: a softmax over the single per-query logit is constant; use '
                                 'FocalLossCost for the binary per-query classification cost')

    def batch_assign(self, batch_pred_instances: InstanceList, batch_gt_instances: InstanceList,
                     batch_img_metas: List[Optional[dict]]) -> List[AssignResult]:
        """Assigns the queries of every image of a batch (see the class docstring for the semantics); the
        inherited ``assign`` does one image through it.

        Args:
            batch_pred_instances: Per image, ``query_labels`` (Q_i, ), ``scores`` (Q_i, 1) or (Q_i, ) and
                ``bboxes`` (Q_i, 4).
            batch_gt_instances: Per image, ``labels`` (G_i, ) and ``bboxes`` (G_i, 4).
            batch_img_metas: Per image, a dict with ``img_shape`` (h, w).

        Returns:
            list[AssignResult]: One per image.
        """
        cost, num_preds, num_gts, query_labels = self._unmasked_cost(batch_pred_instances, batch_gt_instances,
                                                                     batch_img_metas)
        cost_np = None if cost is None else cost.cpu().numpy()
        pairs = []
        for i, (q, g) in enumerate(zip(num_preds, num_gts)):
            if q > 0 and g > 0:
                pairs.append(self._solve_groups(cost_np[i, :q, :g], query_labels[i].cpu().numpy(),
                                                batch_gt_instances[i].labels.cpu().numpy()))
            else:
                pairs.append(None)
        return self._results(pairs, batch_gt_instances, num_preds)

    def assign_with_costs(self, costs: List[Tensor], batch_gt_instances: InstanceList) -> List[AssignResult]:
        """Solves given per-image costs where ``inf`` forbids a pair, e.g. the output of :meth:`batch_cost`.

        Unlike the parent's, any pattern of ``inf`` is accepted: per image the matching has the most matched gts
        possible, then the smallest total cost (see :func:`solve_with_forbidden_pairs`).

        Args:
            costs: Per image, a (Q_i, G_i) cost, ``inf`` for forbidden pairs (no NaN, no ``-inf``).
            batch_gt_instances: Per image, ``labels`` (G_i, ).

        Returns:
            list[AssignResult]: As :meth:`batch_assign`.
        """
        for i, cost in enumerate(costs):
            if bool((cost == float('-inf')).any()):
                raise ValueError(f'cost of image {i} contains -inf; only +inf (forbidden pair) is allowed')
        return super().assign_with_costs(costs, batch_gt_instances)

    @staticmethod
    def _solve(blocks: List[Optional[np.ndarray]], batch_gt_instances: InstanceList,
               num_preds: List[int]) -> List[AssignResult]:
        """The parent's per-image solve step, with forbidden (``inf``) pairs allowed in the blocks."""
        pairs = [
            solve_with_forbidden_pairs(block) if block is not None and block.size else None for block in blocks
        ]
        return GroupHungarianAssigner._results(pairs, batch_gt_instances, num_preds)

    @staticmethod
    def _results(pairs: List[Optional[Tuple[np.ndarray, np.ndarray]]], batch_gt_instances: InstanceList,
                 num_preds: List[int]) -> List[AssignResult]:
        """AssignResults from the matched (query indices, gt indices) of every image (None: nothing matched).

        Args:
            pairs: Per image, two int64 arrays of equal length, or None.
            batch_gt_instances: Per image, ``labels`` (G_i, ).
            num_preds: Q_i per image.
        """
        device = batch_gt_instances[0].labels.device
        results = []
        for pair, gt, q in zip(pairs, batch_gt_instances, num_preds):
            gt_inds = torch.zeros(q, dtype=torch.long, device=device)
            labels = torch.full((q, ), -1, dtype=torch.long, device=device)
            if pair is not None and len(pair[0]):
                rows = torch.from_numpy(pair[0]).to(device)
                cols = torch.from_numpy(pair[1]).to(device)
                gt_inds[rows] = cols + 1
                labels[rows] = gt.labels[cols].long()
            results.append(AssignResult(num_gts=len(gt), gt_inds=gt_inds, max_overlaps=None, labels=labels))
        return results

    @staticmethod
    def _solve_groups(cost: np.ndarray, query_labels: np.ndarray, gt_labels: np.ndarray) -> Tuple[np.ndarray,
                                                                                                   np.ndarray]:
        """Solves one image category by category.

        Args:
            cost: (Q, G) finite cost (forbidden pairs are not masked here; they are never looked at).
            query_labels: (Q, ) category per query, -1 for unbound.
            gt_labels: (G, ) category per gt.

        Returns:
            tuple[np.ndarray, np.ndarray]: Matched query indices and their gt indices (int64).
        """
        rows, cols = [], []
        for category in np.unique(gt_labels):
            query_idx = np.flatnonzero(query_labels == category)
            if len(query_idx) == 0:  # no query of this category: its gts stay unmatched
                continue
            gt_idx = np.flatnonzero(gt_labels == category)
            block_rows, block_cols = linear_sum_assignment(cost[np.ix_(query_idx, gt_idx)])
            rows.append(query_idx[block_rows])
            cols.append(gt_idx[block_cols])
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)

    def batch_cost(self, batch_pred_instances: InstanceList, batch_gt_instances: InstanceList,
                   batch_img_metas: List[Optional[dict]]) -> List[Tensor]:
        """Total weighted match cost of every image, ``inf`` where the query may not match the gt.

        Args:
            batch_pred_instances: As for :meth:`batch_assign`.
            batch_gt_instances: As for :meth:`batch_assign`.
            batch_img_metas: As for :meth:`batch_assign`.

        Returns:
            list[Tensor]: Per image a (Q_i, G_i) float32 cost; ``inf`` where ``query_labels[q] != labels[g]``
            (always for unbound queries).
        """
        cost, num_preds, num_gts, query_labels = self._unmasked_cost(batch_pred_instances, batch_gt_instances,
                                                                     batch_img_metas)
        out = []
        for i, (q, g) in enumerate(zip(num_preds, num_gts)):
            block = torch.zeros((q, g)) if cost is None else cost[i, :q, :g].clone()
            block = block.to(batch_gt_instances[i].labels.device)
            allowed = query_labels[i][:, None] == batch_gt_instances[i].labels[None, :].long()
            out.append(block.masked_fill_(~allowed, float('inf')))
        return out

    def _unmasked_cost(
            self, batch_pred_instances: InstanceList, batch_gt_instances: InstanceList,
            batch_img_metas: List[Optional[dict]]) -> Tuple[Optional[Tensor], List[int], List[int], List[Tensor]]:
        """Padded (B, Q_max, G_max) cost of all pairs as if every query could match every gt.

        Returns:
            tuple: The cost (None when no image has a pair), Q_i and G_i per image, and the (Q_i, ) long
            query labels per image.
        """
        binary_preds, query_labels = self._binary_preds(batch_pred_instances)
        num_preds, num_gts = self._check_batch(binary_preds, batch_gt_instances, batch_img_metas)
        gts = self._stack_fields(batch_gt_instances, self.gt_fields, 'gt')
        # the single logit is a 1-class score map: every gt reads column 0 of it
        gts['labels'] = torch.zeros_like(gts['labels'])
        cost = self._padded_cost(binary_preds, gts, batch_img_metas, num_preds, num_gts)
        return cost, num_preds, num_gts, query_labels

    def _binary_preds(self, batch_pred_instances: InstanceList) -> Tuple[InstanceList, List[Tensor]]:
        """Checks ``query_labels`` and the binary ``scores``; returns preds with (Q, 1) scores and the labels.

        Raises:
            ValueError: ``query_labels`` is missing or malformed, or ``scores`` has more than one logit per query.
        """
        binary_preds, query_labels = [], []
        for i, pred in enumerate(batch_pred_instances):
            # InstanceData's len() reads an arbitrary field (its fields are a set): count the predictions
            # from the fields the costs use, so a short query_labels is caught whatever the set order.
            num = next((len(pred.get(f)) for f in ('scores', 'bboxes') if f in pred), len(pred))
            if 'query_labels' not in pred:
                if num:
                    raise ValueError(f'pred_instances of image {i} has no "query_labels" (Q, ): the category each '
                                     'query is bound to (-1 for none)')
                labels = torch.zeros(0, dtype=torch.long)
            else:
                labels = pred.query_labels
                if labels.dim() != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
                    raise ValueError(f'query_labels of image {i} must be an integer (Q, ) tensor, got '
                                     f'{labels.dtype} of shape {tuple(labels.shape)}')
                if labels.numel() and int(labels.min()) < -1:
                    raise ValueError(f'query_labels of image {i} has {int(labels.min())}; use -1 for unbound queries')
                if len(labels) != num:
                    raise ValueError(f'query_labels of image {i} has {len(labels)} entries for {num} queries')
                labels = labels.long()
            query_labels.append(labels)
            fields: Dict[str, Tensor] = {}
            for name in self.pred_fields:
                if name not in pred:
                    continue  # _check_batch reports it
                value = pred.get(name)
                if name == 'scores':
                    if not (value.dim() == 1 or (value.dim() == 2 and value.size(1) == 1)):
                        raise ValueError(f'scores of image {i} must be one logit per query, (Q, 1) or (Q, ), got '
                                         f'{tuple(value.shape)}')
                    value = value.reshape(-1, 1)
                fields[name] = value
            binary_preds.append(InstanceData(**fields) if fields else InstanceData())
        return binary_preds, query_labels

