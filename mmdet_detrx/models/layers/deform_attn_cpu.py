"""Multi-scale deformable attention with a leaner CPU sampling path (same function as mmcv's).

mmcv's ``MultiScaleDeformableAttention`` has no CPU kernel: off CUDA it runs
``multi_scale_deformable_attn_pytorch``, which samples every level with ``grid_sample``, *stacks* the
per-level samples into one (bs * heads, head_dims, num_queries, levels * points) tensor, multiplies it by the
attention weights and sums. :func:`deformable_attn_level_sum` (defined in :mod:`mmdet_detrx.ops.ms_deform_attn`,
re-exported here) computes the same sum level by level (sample, weight, reduce over the points, accumulate;
points laid out before queries so the weighting and the reduction run over contiguous memory), so the stacked
tensor and its copies in the forward and the backward pass never exist; in an encoder layer of Co-DINO on a CPU
that is ~20% of the attention's forward + backward time. Same ``grid_sample`` calls (bilinear, zero padding,
``align_corners=False``), same products; only the order of the final additions differs (tested against mmcv's
function).

:class:`DetrxMSDeformAttn` is ``MultiScaleDeformableAttention`` (same parameters, state dict and
computation) that uses our C++ CPU kernel (:mod:`mmdet_detrx.ops.ms_deform_attn`, ~3x faster than the
``grid_sample`` path; :func:`deformable_attn_level_sum` is its fallback) on CPU and mmcv's CUDA kernel on a GPU;
:func:`use_cpu_deformable_attn` switches the attention modules of a model to it.
"""
import contextlib
from typing import Iterator, Optional

import torch
from mmcv.ops import MultiScaleDeformableAttention
from torch import Tensor

from ...ops import deformable_attn_level_sum, ms_deform_attn_cpu  # noqa: F401  (level sum: re-exported)


class DetrxMSDeformAttn(MultiScaleDeformableAttention):
    """mmcv's ``MultiScaleDeformableAttention`` (same parameters and function) whose CPU path samples with our
    C++ kernel (:func:`mmdet_detrx.ops.ms_deform_attn_cpu`, or :func:`deformable_attn_level_sum` where the kernel
    cannot be built); on CUDA (or MLU) it is mmcv's forward with mmcv's kernel."""

    def forward(self, query: Tensor, key: Optional[Tensor] = None, value: Optional[Tensor] = None,
                identity: Optional[Tensor] = None, query_pos: Optional[Tensor] = None,
                key_padding_mask: Optional[Tensor] = None, reference_points: Optional[Tensor] = None,
                spatial_shapes: Optional[Tensor] = None, level_start_index: Optional[Tensor] = None,
                **kwargs) -> Tensor:
        """As ``MultiScaleDeformableAttention.forward``: query (num_query, bs, C) (or (bs, num_query, C) with
        ``batch_first``), reference points (bs, num_query, num_levels, 2 or 4), key_padding_mask (bs, num_value)."""
        value = query if value is None else value
        value_arg = value
        if value.device.type != 'cpu':
            return super().forward(query, key, value, identity, query_pos, key_padding_mask, reference_points,
                                   spatial_shapes, level_start_index, **kwargs)
        identity = query if identity is None else identity
        if query_pos is not None:
            query = query + query_pos
        if not self.batch_first:
            query, value = query.transpose(0, 1), value.transpose(0, 1)
        bs, num_query, _ = query.shape
        value = self._project_value(value_arg, value, key_padding_mask)
        offsets = self.sampling_offsets(query).view(bs, num_query, self.num_heads, self.num_levels,
                                                    self.num_points, 2)
        weights = self.attention_weights(query).view(bs, num_query, self.num_heads,
                                                     self.num_levels * self.num_points).softmax(-1)
        weights = weights.view(bs, num_query, self.num_heads, self.num_levels, self.num_points)
        if reference_points.shape[-1] == 2:
            normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
            locations = reference_points[:, :, None, :, None, :] + offsets / normalizer[None, None, None, :, None]
        elif reference_points.shape[-1] == 4:
            locations = reference_points[:, :, None, :, None, :2] \
                + offsets / self.num_points * reference_points[:, :, None, :, None, 2:] * 0.5
        else:
            raise ValueError('reference_points must end in 2 (points) or 4 (boxes) coordinates, got shape '
                             f'{tuple(reference_points.shape)}')
        output = self.output_proj(ms_deform_attn_cpu(value, spatial_shapes, level_start_index, locations, weights))
        if not self.batch_first:
            output = output.transpose(0, 1)
        return self.dropout(output) + identity


    _value_cache: Optional[dict] = None

    def _project_value(self, value_arg: Tensor, value: Tensor, key_padding_mask: Optional[Tensor]) -> Tensor:
        """``value_proj`` + padding mask, as (bs, num_value, heads, head_dims); inside
        :func:`shared_value_projection` a value tensor (same object, same mask object) seen before by this
        module is projected only once."""
        cache = self._value_cache
        if cache is not None and cache.get('value') is value_arg and cache.get('mask') is key_padding_mask:
            return cache['projected']
        bs, num_value, _ = value.shape
        projected = self.value_proj(value)
        if key_padding_mask is not None:
            projected = projected.masked_fill(key_padding_mask[..., None], 0.0)
        projected = projected.view(bs, num_value, self.num_heads, -1)
        if cache is not None:
            cache.update(value=value_arg, mask=key_padding_mask, projected=projected)
        return projected


@contextlib.contextmanager
def shared_value_projection(module: torch.nn.Module) -> Iterator[None]:
    """Within the block, each :class:`DetrxMSDeformAttn` in ``module`` projects a value it has already projected
    (the same tensor object with the same padding mask object) only once and reuses the result.

    Co-DETR decodes the same encoder memory once for the base queries and once per positive query group: the
    cross-attention of a decoder layer then computes ``value_proj(memory)`` once instead of once per pass.
    Same function and gradients (autograd sums the gradients of the shared projection); fewer GEMMs. On
    CUDA (mmcv's forward) nothing is shared.
    """
    layers = [m for m in module.modules() if isinstance(m, DetrxMSDeformAttn)]
    for layer in layers:
        layer._value_cache = dict()
    try:
        yield
    finally:
        for layer in layers:
            layer._value_cache = None


def use_cpu_deformable_attn(module: torch.nn.Module) -> int:
    """Switches every mmcv ``MultiScaleDeformableAttention`` inside ``module`` to :class:`DetrxMSDeformAttn`
    in place (same parameters, buffers and state dict keys); returns how many were switched."""
    switched = 0
    for child in module.modules():
        if type(child) is MultiScaleDeformableAttention:
            child.__class__ = DetrxMSDeformAttn  # a subclass without state of its own
            switched += 1
    return switched


# the name from before the C++ kernel, when the CPU path summed grid_sample level by level
use_level_sum_deformable_attn = use_cpu_deformable_attn

__all__ = ['deformable_attn_level_sum', 'DetrxMSDeformAttn', 'shared_value_projection', 'use_cpu_deformable_attn',
           'use_level_sum_deformable_attn']
