"""The CPU gather RoIAlign keeps its memory bounded: many RoIs are pooled in chunks (results unchanged: mmcv's), a
huge RoI with a fixed sampling grid that fits the budget (mmcv's kernel cannot pool it at all). A 1e6 x 1e6 box
once asked for 22 GB."""
import resource

import torch
from mmcv.ops import roi_align

from mmdet_detrx.models.layers.gather_roi_align import DetrxGatherRoIAlign, gather_entries


def _layer(max_entries):
    layer = DetrxGatherRoIAlign((7, 7), 0.25, 0, 'avg', True)
    layer.max_entries = max_entries
    return layer


def test_entries_formula_matches_a_small_case():
    rois = torch.tensor([[0., 0., 0., 56., 28.]])  # 14 x 7 feature px -> bins of 2 x 1 -> grid 1 x 2
    assert gather_entries(rois, (7, 7), 0.25, 0, aligned=False).tolist() == [4 * 1 * 2 * 49]


def test_chunks_equal_one_gather_and_mmcv():
    torch.manual_seed(0)
    feat = torch.randn(2, 8, 20, 24)
    xy = torch.rand(40, 2) * 60
    rois = torch.cat([torch.randint(0, 2, (40, 1)).float(), xy, xy + torch.rand(40, 2) * 40 + 1], 1)
    budget = int(gather_entries(rois, (7, 7), 0.25).max()) * 3  # forces several chunks
    chunked = _layer(budget)(feat, rois)
    whole = _layer(1 << 30)(feat, rois)
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(chunked, roi_align(feat, rois, (7, 7), 0.25, 0, 'avg', True), rtol=1e-5, atol=1e-5)


def test_huge_box_uses_bounded_memory():
    feat = torch.randn(1, 16, 32, 32)
    rois = torch.tensor([[0., 0., 0., 1e6, 1e6], [0., 10., 10., 60., 60.]])
    assert int(gather_entries(rois, (7, 7), 0.25).max()) > 1e9  # what the unbounded gather would have built
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = DetrxGatherRoIAlign((7, 7), 0.25, 0, 'avg', True)(feat, rois)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert out.shape == (2, 16, 7, 7) and torch.isfinite(out).all()
    assert grown_mib < 400, f'peak RSS grew by {grown_mib:.0f} MiB'
    # the normal RoI is untouched: mmcv's result; the huge one equals a fixed-grid RoIAlign, which mmcv computes
    torch.testing.assert_close(out[1:], roi_align(feat, rois[1:], (7, 7), 0.25, 0, 'avg', True))
    capped = max(1, int((DetrxGatherRoIAlign.max_entries / (4 * 49))**0.5))
    torch.testing.assert_close(out[:1], roi_align(feat, rois[:1], (7, 7), 0.25, capped, 'avg', True))
