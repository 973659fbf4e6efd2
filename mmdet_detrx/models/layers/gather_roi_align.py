"""RoIAlign as one weighted gather (``embedding_bag``): the same function as mmcv's ``RoIAlign``, faster on CPU.

mmcv's CPU RoIAlign kernel walks every RoI, channel, bin and sample with strided NCHW reads, and its
backward recomputes the bilinear weights for every channel; with adaptive sampling (``sampling_ratio=0``)
on the stride-4 level it is the most expensive operation of a Co-DETR training step on a CPU.

RoIAlign is linear in the feature map: output bin ``(r, ph, pw)`` is a weighted sum of feature pixels,
``sum_s sum_corner w_s,corner * f[b_r, :, y, x] / count``. :func:`gather_roi_align` builds that list of
(pixel, weight) pairs for all RoIs at once with integer tensor arithmetic (mmcv's sample positions,
boundary rules and ``count``) and evaluates it with ``F.embedding_bag`` on the channels-last feature map:
each pair is one contiguous C-vector multiply-add, and autograd's embedding-bag backward scatters the
gradient the same way. Results equal mmcv's up to float summation order (tested against
``mmcv.ops.roi_align``); like mmcv, no gradient flows to the boxes.

:class:`DetrxGatherRoIAlign` is a drop-in ``mmcv.ops.RoIAlign`` (``avg`` pooling) that uses the gather on
CPU and mmcv's kernel elsewhere (mmcv's CUDA kernel is fast).
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from mmcv.ops import RoIAlign
from torch import Tensor


def _axis_samples(start: Tensor, bin_size: Tensor, grid: Tensor, num_bins: int,
                  size: int) -> Tuple[Tensor, Tensor]:
    """Interpolation rows (or columns) and weights of every sample along one axis, RoI by RoI.

    For RoI ``r`` there are ``num_bins * grid[r]`` samples (bin-major), each with a low and a high neighbour;
    mmcv's rules: a sample outside ``[-1, size]`` has weight 0, one below 0 is moved to 0, one at or beyond
    ``size - 1`` uses the last row twice.

    Args:
        start: First coordinate of each RoI in feature pixels, (R, ).
        bin_size: Bin extent, (R, ).
        grid: Samples per bin, (R, ) int64, >= 0.
        num_bins: Bins along this axis.
        size: Feature extent along this axis.

    Returns:
        ``index`` and ``weight``, each (sum_r num_bins * grid[r], 2) (low, high neighbour), RoIs concatenated.
    """
    counts = grid * num_bins
    total = int(counts.sum())
    roi = torch.repeat_interleave(torch.arange(len(grid), device=grid.device), counts, output_size=total)
    first = torch.cumsum(counts, 0) - counts
    j = torch.arange(total, device=grid.device) - first[roi]
    g = grid[roi]
    bin_id = torch.div(j, g, rounding_mode='floor')
    sample = j - bin_id * g
    step = bin_size[roi]
    pos = start[roi] + bin_id * step + (sample.to(step.dtype) + 0.5) * step / g.to(step.dtype)
    inside = ((pos >= -1.0) & (pos <= size)).to(pos.dtype)
    pos = pos.clamp(min=0)
    low = pos.long()
    last = low >= size - 1
    low = low.clamp(max=size - 1)
    high = torch.where(last, low, low + 1)
    frac = torch.where(last, torch.zeros_like(pos), pos - low.to(pos.dtype))
    index = torch.stack([low, high], dim=1)
    weight = torch.stack([(1 - frac) * inside, frac * inside], dim=1)
    return index, weight


def _sampling_grid(bin_h: Tensor, bin_w: Tensor, sampling_ratio: int) -> Tuple[Tensor, Tensor]:
    """Samples per bin along y and x for every RoI, (R, ) int64 each (mmcv's rule)."""
    if sampling_ratio > 0:
        grid = torch.full_like(bin_h, sampling_ratio, dtype=torch.long)
        return grid, grid
    return torch.ceil(bin_h).long().clamp(min=0), torch.ceil(bin_w).long().clamp(min=0)


def gather_entries(rois: Tensor, output_size: Tuple[int, int], spatial_scale: float, sampling_ratio: int = 0,
                   aligned: bool = True) -> Tensor:
    """(pixel, weight) pairs :func:`gather_roi_align` builds for each RoI, (R, ) int64: its memory is about
    80 bytes per pair. A huge RoI with adaptive sampling (``sampling_ratio=0``) has huge grids."""
    coords = rois[:, 1:].double() * spatial_scale - (0.5 if aligned else 0.0)
    roi_w, roi_h = coords[:, 2] - coords[:, 0], coords[:, 3] - coords[:, 1]
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    out_h, out_w = output_size
    grid_h, grid_w = _sampling_grid(roi_h.clamp(min=0) / out_h, roi_w.clamp(min=0) / out_w, sampling_ratio)
    return 4 * grid_h * grid_w * (out_h * out_w)


def gather_roi_align(feat: Tensor, rois: Tensor, output_size: Tuple[int, int], spatial_scale: float,
                     sampling_ratio: int = 0, aligned: bool = True) -> Tensor:
    """mmcv's average RoIAlign computed as a weighted gather (see the module docstring).

    Args:
        feat: Feature map, (B, C, H, W), float.
        rois: (R, 5) rows ``(batch index, x1, y1, x2, y2)`` in image pixels.
        output_size: (out_h, out_w).
        spatial_scale: Feature pixels per image pixel.
        sampling_ratio: Samples per bin along each axis; 0 = ``ceil(roi extent / bins)`` per RoI.
        aligned: Shift by half a pixel (mmcv's ``aligned=True``); otherwise RoIs are at least 1 pixel.

    Returns:
        Pooled features, (R, C, out_h, out_w) (a channels-last view).
    """
    if feat.dim() != 4 or rois.dim() != 2 or rois.size(1) != 5:
        raise ValueError(f'gather_roi_align expects feat (B, C, H, W) and rois (R, 5), got {tuple(feat.shape)} '
                         f'and {tuple(rois.shape)}')
    out_h, out_w = output_size
    num_imgs, channels, height, width = feat.shape
    num_rois = rois.size(0)
    if num_rois == 0:
        return feat.new_zeros((0, channels, out_h, out_w))
    coords = rois[:, 1:].to(feat.dtype) * spatial_scale - (0.5 if aligned else 0.0)
    img = rois[:, 0].long()
    roi_w = coords[:, 2] - coords[:, 0]
    roi_h = coords[:, 3] - coords[:, 1]
    if not aligned:
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    elif bool(((roi_w < 0) | (roi_h < 0)).any()):
        raise ValueError('gather_roi_align: RoIs must have x2 >= x1 and y2 >= y1 (as mmcv RoIAlign asserts)')
    bin_h, bin_w = roi_h / out_h, roi_w / out_w
    grid_h, grid_w = _sampling_grid(bin_h, bin_w, sampling_ratio)
    count = (grid_h * grid_w).clamp(min=1).to(feat.dtype)
    y_index, y_weight = _axis_samples(coords[:, 1], bin_h, grid_h, out_h, height)
    x_index, x_weight = _axis_samples(coords[:, 0], bin_w, grid_w, out_w, width)
    y_index, y_weight, x_index, x_weight = (t.reshape(-1) for t in (y_index, y_weight, x_index, x_weight))
    y_first = 2 * (torch.cumsum(grid_h * out_h, 0) - grid_h * out_h)  # first y entry of each RoI
    x_first = 2 * (torch.cumsum(grid_w * out_w, 0) - grid_w * out_w)

    # one bag per output bin: the outer product of its 2*grid_h row and 2*grid_w column entries
    per_bin = 4 * grid_h * grid_w
    counts = per_bin * (out_h * out_w)
    total = int(counts.sum())
    roi = torch.repeat_interleave(torch.arange(num_rois, device=feat.device), counts, output_size=total)
    e = torch.arange(total, device=feat.device) - (torch.cumsum(counts, 0) - counts)[roi]
    n = per_bin[roi]
    bin_id = torch.div(e, n, rounding_mode='floor')
    k = e - bin_id * n
    ph = torch.div(bin_id, out_w, rounding_mode='floor')
    pw = bin_id - ph * out_w
    row_len = 2 * grid_w[roi]
    ky = torch.div(k, row_len, rounding_mode='floor')
    kx = k - ky * row_len
    ye = y_first[roi] + ph * (2 * grid_h[roi]) + ky
    xe = x_first[roi] + pw * row_len + kx
    index = (img[roi] * height + y_index[ye]) * width + x_index[xe]
    weight = y_weight[ye] * x_weight[xe] / count[roi]
    bag_sizes = per_bin.repeat_interleave(out_h * out_w)
    offsets = torch.cumsum(bag_sizes, 0) - bag_sizes
    table = feat.permute(0, 2, 3, 1).reshape(num_imgs * height * width, channels)
    out = F.embedding_bag(index, table, offsets, mode='sum', per_sample_weights=weight)
    return out.view(num_rois, out_h, out_w, channels).permute(0, 3, 1, 2)


class DetrxGatherRoIAlign(RoIAlign):
    """``mmcv.ops.RoIAlign`` that runs :func:`gather_roi_align` on CPU (same results, several times faster
    forward and backward) and mmcv's kernel on other devices or for ``pool_mode='max'``.

    Unlike mmcv's ``RoIAlign`` it accepts any memory layout of the feature map (mmcv 2.1's kernels read
    a non-contiguous tensor's buffer as if it were contiguous NCHW)."""

    @classmethod
    def from_mmcv(cls, layer: RoIAlign) -> 'DetrxGatherRoIAlign':
        """A copy of an mmcv ``RoIAlign`` (same output size, scale, sampling, pooling, alignment)."""
        return cls(layer.output_size, layer.spatial_scale, layer.sampling_ratio, layer.pool_mode, layer.aligned,
                   layer.use_torchvision)

    #: at most this many (pixel, weight) pairs per gather (peak ~200 bytes each: ~200 MiB). More RoIs are pooled in
    #: chunks. A single RoI above it (a huge box with adaptive sampling: a 1e6 px box would need ~10^11 pairs, and
    #: mmcv's own kernel fails on it with "cannot create std::vector larger than max_size()") is pooled with the
    #: largest fixed sampling grid that fits the budget instead of its adaptive one.
    max_entries = 1 << 20

    def _gather(self, input: Tensor, rois: Tensor, sampling_ratio: int) -> Tensor:
        entries = gather_entries(rois, self.output_size, self.spatial_scale, sampling_ratio, self.aligned)
        parts = [gather_roi_align(input, rois[chunk], self.output_size, self.spatial_scale, sampling_ratio,
                                  self.aligned) for chunk in _chunks(entries, self.max_entries)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def forward(self, input: Tensor, rois: Tensor) -> Tensor:
        if input.device.type == 'cpu' and self.pool_mode == 'avg' and not self.use_torchvision \
                and input.dtype in (torch.float32, torch.float64):
            huge = gather_entries(rois, self.output_size, self.spatial_scale, self.sampling_ratio,
                                  self.aligned) > self.max_entries
            if not bool(huge.any()):
                return self._gather(input, rois, self.sampling_ratio)
            bins = self.output_size[0] * self.output_size[1]
            capped = max(1, int((self.max_entries / (4 * bins))**0.5))
            normal, large = (~huge).nonzero().flatten(), huge.nonzero().flatten()
            pooled = torch.cat([self._gather(input, rois[normal], self.sampling_ratio),
                                self._gather(input, rois[large], capped)])
            return pooled[torch.argsort(torch.cat([normal, large]))]
        # mmcv's kernels index the raw buffer as NCHW: a transposed view would pool scrambled features
        return super().forward(input.contiguous(), rois)


def _chunks(entries: Tensor, budget: int):
    """Consecutive index slices of RoIs whose summed ``entries`` stay within ``budget`` (each entry <= budget)."""
    start, total = 0, 0
    for i, n in enumerate(entries.tolist()):
        if total + n > budget and i > start:
            yield slice(start, i)
            start, total = i, 0
        total += n
    yield slice(start, len(entries))


def use_gather_roi_align(module: torch.nn.Module) -> int:
    """Replaces every mmcv ``RoIAlign`` inside ``module`` by :class:`DetrxGatherRoIAlign`; returns how many.

    ``RoIAlign`` has no parameters or buffers: state dicts are unchanged.
    """
    replaced = 0
    for parent in module.modules():
        for name, child in list(parent.named_children()):
            if type(child) is RoIAlign:
                setattr(parent, name, DetrxGatherRoIAlign.from_mmcv(child))
                replaced += 1
    return replaced


__all__ = ['gather_roi_align', 'DetrxGatherRoIAlign', 'use_gather_roi_align']
