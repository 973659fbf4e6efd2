"""Hungarian assignment with the cost matrices of a whole batch computed at once."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine import ConfigDict
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from mmdet.models.task_modules.assigners.assign_result import AssignResult
from mmdet.models.task_modules.assigners.base_assigner import BaseAssigner
from mmdet.registry import TASK_UTILS
from mmdet.utils import InstanceList
from ..match_costs.batched_match_cost import BatchedMatchCostMixin, build_batched_match_cost


def _stack_padded(tensors: Sequence[Tensor], name: str, dtype: torch.dtype) -> Tensor:
    """Stacks per-image (N_i, ...) tensors into one zero-padded (B, max N_i, ...) tensor of ``dtype``.

    Raises:
        ValueError: the trailing shapes differ between images.
    """
    trailing = tensors[0].shape[1:]
    for i, t in enumerate(tensors):
        if t.dim() == 0 or t.shape[1:] != trailing:
            raise ValueError(f'{name} of image {i} has shape {tuple(t.shape)}, but image 0 has '
                             f'{tuple(tensors[0].shape)}: all images need the same shape after the first dim')
    tensors = [t.to(dtype) for t in tensors]
    if all(len(t) == len(tensors[0]) for t in tensors):
        return torch.stack(tensors)
    return torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True)


def _autocast_off(device: torch.device):
    """Context that disables autocast for ``device`` so costs are computed in float32."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type='cpu', enabled=False)


@TASK_UTILS.register_module()
class BatchedHungarianAssigner(BaseAssigner):
    """One-to-one matching like mmdet's ``HungarianAssigner``, with the costs of a batch computed together.

    Configured exactly like ``HungarianAssigner``: change ``type='HungarianAssigner'`` to
    ``type='BatchedHungarianAssigner'`` and keep ``match_costs`` (e.g. focal, L1 ``xywh`` and GIoU costs).

    Each mmdet match cost is mapped to its batched version (see ``BATCHED_MATCH_COSTS``), which computes the
    (B, Q, G_max) cost of all images with one batched op; costs are computed in float32 without autograd (also
    under autocast / for fp16 inputs), checked for NaN/inf, and then every image is solved with scipy's
    ``linear_sum_assignment``. The assignment is the same as ``HungarianAssigner``'s:

    - ``gt_inds``: 0 for unmatched (background) predictions, 1-based gt index for matched ones; with no
      predictions it is empty.
    - ``labels``: the matched gt's label, -1 elsewhere.

    Args:
        match_costs (dict | ConfigDict | list): Match-cost configs, as for ``HungarianAssigner``. Supported types:
            ``FocalLossCost``, ``ClassificationCost``, ``BBoxL1Cost``, ``IoUCost`` and the registered batched costs.
    """

    def __init__(self, match_costs: Union[List[Union[dict, ConfigDict]], dict, ConfigDict]) -> None:
        if isinstance(match_costs, dict):
            match_costs = [match_costs]
        if not isinstance(match_costs, (list, tuple)) or len(match_costs) == 0:
            raise ValueError(f'match_costs must be a config dict or a non-empty list of them, got {match_costs!r}')
        self.match_costs: List[BatchedMatchCostMixin] = [build_batched_match_cost(cfg) for cfg in match_costs]
        self.cost_names = [f'{type(c).__name__} (match_costs[{k}])' for k, c in enumerate(self.match_costs)]
        self.pred_fields = tuple(dict.fromkeys(f for c in self.match_costs for f in c.pred_fields()))
        # labels are always needed to fill AssignResult.labels
        self.gt_fields = tuple(dict.fromkeys(('labels', ) + tuple(f for c in self.match_costs for f in c.gt_fields())))
        self.requires_img_shape = any(c.requires_img_shape for c in self.match_costs)

    def assign(self,
               pred_instances: InstanceData,
               gt_instances: InstanceData,
               img_meta: Optional[dict] = None,
               **kwargs) -> AssignResult:
        """Assigns the predictions of one image (same semantics as ``HungarianAssigner.assign``).

        Args:
            pred_instances: ``scores`` (Q, C) logits and ``bboxes`` (Q, 4) absolute xyxy (the fields the costs use).
            gt_instances: ``labels`` (G, ) and ``bboxes`` (G, 4) absolute xyxy.
            img_meta: Image information with ``img_shape`` (h, w), needed by ``BBoxL1Cost``.

        Returns:
            AssignResult: ``gt_inds`` (Q, ) and ``labels`` (Q, ), ``max_overlaps`` None.
        """
        return self.batch_assign([pred_instances], [gt_instances], [img_meta])[0]

    def batch_assign(self, batch_pred_instances: InstanceList, batch_gt_instances: InstanceList,
                     batch_img_metas: List[Optional[dict]]) -> List[AssignResult]:
        """Assigns the predictions of every image of a batch.

        Args:
            batch_pred_instances: Per image, ``scores`` (Q_i, C) logits and ``bboxes`` (Q_i, 4) absolute xyxy.
            batch_gt_instances: Per image, ``labels`` (G_i, ) and ``bboxes`` (G_i, 4) absolute xyxy.
            batch_img_metas: Per image, a dict with ``img_shape`` (h, w).

        Returns:
            list[AssignResult]: One per image, as ``HungarianAssigner.assign`` returns it.
        """
        num_preds, num_gts = self._check_batch(batch_pred_instances, batch_gt_instances, batch_img_metas)
        gts = self._stack_fields(batch_gt_instances, self.gt_fields, 'gt')
        cost = self._padded_cost(batch_pred_instances, gts, batch_img_metas, num_preds, num_gts)
        if cost is None:
            blocks = [None] * len(num_preds)
        else:
            cost_np = cost.cpu().numpy()  # one transfer for the batch
            blocks = [cost_np[i, :q, :g] for i, (q, g) in enumerate(zip(num_preds, num_gts))]
        return self._solve(blocks, batch_gt_instances, num_preds)

    def assign_with_costs(self, costs: List[Tensor], batch_gt_instances: InstanceList) -> List[AssignResult]:
        """Solves given per-image cost matrices, e.g. costs from :meth:`batch_cost` that a caller edited.

        Entries may be ``inf`` to forbid a pair (scipy raises ValueError when no full matching is left).

        Args:
            costs: Per image, a (Q_i, G_i) cost.
            batch_gt_instances: Per image, ``labels`` (G_i, ).

        Returns:
            list[AssignResult]: As :meth:`batch_assign`.
        """
        if len(costs) != len(batch_gt_instances):
            raise ValueError(f'{len(costs)} cost matrices for {len(batch_gt_instances)} gt_instances')
        for i, (cost, gt) in enumerate(zip(costs, batch_gt_instances)):
            if cost.dim() != 2 or cost.size(1) != len(gt):
                raise ValueError(f'cost of image {i} has shape {tuple(cost.shape)}, expected (Q, {len(gt)})')
            if bool(torch.isnan(cost).any()):
                raise ValueError(f'cost of image {i} contains NaN')
        blocks = [cost.detach().cpu().numpy() for cost in costs]
        return self._solve(blocks, batch_gt_instances, [len(cost) for cost in costs])

    @staticmethod
    def _solve(blocks: List[Optional[np.ndarray]], batch_gt_instances: InstanceList,
               num_preds: List[int]) -> List[AssignResult]:
        """Runs ``linear_sum_assignment`` per image and fills the AssignResults.

        Args:
            blocks: Per image, the (Q_i, G_i) cost, or None when Q_i or G_i is 0.
            batch_gt_instances: Per image, ``labels`` (G_i, ).
            num_preds: Q_i per image.
        """
        gt_labels = [gt.labels for gt in batch_gt_instances]
        num_gts = [len(labels) for labels in gt_labels]
        device = gt_labels[0].device
        gt_inds = torch.zeros((len(num_preds), max(num_preds)), dtype=torch.long, device=device)
        labels = torch.full_like(gt_inds, -1)
        img_inds, row_inds, col_inds, label_inds = [], [], [], []
        first_gt = 0  # index of the image's first gt in the concatenated labels
        for i, (block, q, g) in enumerate(zip(blocks, num_preds, num_gts)):
            if q > 0 and g > 0:
                rows, cols = linear_sum_assignment(block)
                img_inds.append(np.full(len(rows), i))
                row_inds.append(rows)
                col_inds.append(cols)
                label_inds.append(cols + first_gt)
            first_gt += g
        if img_inds:
            img_ind, row_ind, col_ind, label_ind = (torch.from_numpy(np.concatenate(x)).to(device)
                                                    for x in (img_inds, row_inds, col_inds, label_inds))
            gt_inds[img_ind, row_ind] = col_ind + 1
            labels[img_ind, row_ind] = torch.cat(gt_labels).long()[label_ind]
        return [
            AssignResult(num_gts=g, gt_inds=gt_inds[i, :q], max_overlaps=None, labels=labels[i, :q])
            for i, (q, g) in enumerate(zip(num_preds, num_gts))
        ]

    def batch_cost(self, batch_pred_instances: InstanceList, batch_gt_instances: InstanceList,
                   batch_img_metas: List[Optional[dict]]) -> List[Tensor]:
        """Total weighted match cost of every image, computed with one batched op per cost.

        Args:
            batch_pred_instances: Per image, the prediction fields the costs read (see :meth:`batch_assign`).
            batch_gt_instances: Per image, ``labels`` and the gt fields the costs read.
            batch_img_metas: Per image, a dict with ``img_shape``.

        Returns:
            list[Tensor]: Per image a (Q_i, G_i) float32 cost (no gradient), views into one padded tensor.

        Raises:
            ValueError: a cost has NaN/inf (names the image and the cost), or the inputs are malformed.
        """
        num_preds, num_gts = self._check_batch(batch_pred_instances, batch_gt_instances, batch_img_metas)
        gts = self._stack_fields(batch_gt_instances, self.gt_fields, 'gt')
        cost = self._padded_cost(batch_pred_instances, gts, batch_img_metas, num_preds, num_gts)
        if cost is None:
            device = batch_gt_instances[0].labels.device
            return [torch.zeros((q, g), device=device) for q, g in zip(num_preds, num_gts)]
        return [cost[i, :q, :g] for i, (q, g) in enumerate(zip(num_preds, num_gts))]

    def _check_batch(self, batch_pred_instances: InstanceList, batch_gt_instances: InstanceList,
                     batch_img_metas: List[Optional[dict]]) -> Tuple[List[int], List[int]]:
        """Checks the batch lists and the fields the costs need; returns (num_preds, num_gts) per image."""
        if not (len(batch_pred_instances) == len(batch_gt_instances) == len(batch_img_metas)):
            raise ValueError(f'batch sizes differ: {len(batch_pred_instances)} pred_instances, '
                             f'{len(batch_gt_instances)} gt_instances, {len(batch_img_metas)} img_metas')
        if len(batch_pred_instances) == 0:
            raise ValueError('batch_assign got an empty batch')
        for i, (pred, gt, meta) in enumerate(zip(batch_pred_instances, batch_gt_instances, batch_img_metas)):
            # like mmdet, an image without predictions need not carry the prediction fields
            pred_fields = self.pred_fields if len(pred) else ()
            for what, inst, fields in (('pred_instances', pred, pred_fields), ('gt_instances', gt, self.gt_fields)):
                for name in fields:
                    if name not in inst:
                        raise ValueError(f'{what} of image {i} has no {name!r}, needed by the match costs '
                                         f'{self.cost_names}')
            if self.requires_img_shape and (meta is None or 'img_shape' not in meta):
                needing = [n for n, c in zip(self.cost_names, self.match_costs) if c.requires_img_shape]
                raise ValueError(f'img_meta of image {i} has no "img_shape", needed by {needing}')
        return [len(p) for p in batch_pred_instances], [len(g) for g in batch_gt_instances]

    @torch.no_grad()
    def _padded_cost(self, batch_pred_instances: InstanceList, gts: Dict[str, Tensor],
                     batch_img_metas: List[Optional[dict]], num_preds: List[int],
                     num_gts: List[int]) -> Optional[Tensor]:
        """Total cost as one zero-padded (B, Q_max, G_max) float32 tensor; None when no image has a pair.

        Args:
            gts: The stacked gt fields from :meth:`_stack_fields`.
        """
        if max(num_preds) == 0 or max(num_gts) == 0:
            return None
        preds = self._stack_fields(batch_pred_instances, self.pred_fields, 'pred')
        device = gts['labels'].device
        img_shapes = None
        if self.requires_img_shape:
            img_shapes = torch.tensor([tuple(m['img_shape'][:2]) for m in batch_img_metas],
                                      dtype=torch.float32, device=device)
        with _autocast_off(device):
            # summed in list order, as mmdet's torch.stack(costs).sum(0) does; accumulating in place keeps one
            # (B, Q, G) result alive instead of all of them
            total = self.match_costs[0].batch_cost(preds, gts, img_shapes)
            for match_cost in self.match_costs[1:]:
                total += match_cost.batch_cost(preds, gts, img_shapes)
            # a NaN/inf in any cost makes the total non-finite; only then look for the culprit (recomputing)
            if not bool(torch.isfinite(total.sum())):
                costs = [c.batch_cost(preds, gts, img_shapes) for c in self.match_costs]
                self._check_finite(costs, num_preds, num_gts)
        return total

    @staticmethod
    def _stack_fields(batch_instances: InstanceList, fields: Sequence[str], what: str) -> Dict[str, Tensor]:
        """Field name -> zero-padded (B, N_max, ...) tensor: floats float32 (float64 stays), labels long."""
        out = {}
        for name in fields:
            values = [inst.get(name) for inst in batch_instances]
            if name == 'labels':
                dtype = torch.long
            else:  # half/bfloat16 are computed in float32; float64 stays float64, as mmdet would compute it
                dtype = torch.float64 if any(v is not None and v.dtype == torch.float64 for v in values) \
                    else torch.float32
            if any(v is None for v in values):  # empty instances without the field (see _check_batch)
                like = next(v for v in values if v is not None)
                values = [like.new_zeros((0, ) + like.shape[1:]) if v is None else v for v in values]
            out[name] = _stack_padded(values, f'{what} {name}', dtype)
        expected_dims = {'labels': 2, 'scores': 3, 'bboxes': 3}
        for name, value in out.items():
            if name in expected_dims and (value.dim() != expected_dims[name]
                                          or (name == 'bboxes' and value.size(-1) != 4)):
                shape = ('(N, 4)' if name == 'bboxes' else '(N, C)' if name == 'scores' else '(N, )')
                raise ValueError(f'{what} {name} must have shape {shape}, got per-image shape '
                                 f'{tuple(value.shape[1:])}')
        return out

    def _check_finite(self, costs: List[Tensor], num_preds: List[int], num_gts: List[int]) -> None:
        """Raises ValueError naming the first cost and image with NaN/inf inside that image's (Q_i, G_i) block.

        Args:
            costs: Per match cost, the padded (B, Q_max, G_max) matrix.
        """
        for k, cost in enumerate(costs):
            for i, (q, g) in enumerate(zip(num_preds, num_gts)):
                bad = (~torch.isfinite(cost[i, :q, :g])).nonzero()
                if len(bad):
                    row, col = (int(v) for v in bad[0])
                    raise ValueError(f'match cost {self.cost_names[k]} of image {i} is not finite ('
                                     f'{cost[i, row, col].item()} at pred {row}, gt {col}); check that image\'s '
                                     'predictions and ground truths for NaN/inf')
