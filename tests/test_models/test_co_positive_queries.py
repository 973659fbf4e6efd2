"""Co-DETR's customized positive queries with the content term (``DetrxCoPositiveQueryGenerator(with_content_feat)``):
the feature read at every positive box equals an independent per-box computation, and it enters the content query
only."""
import math

import pytest
import torch

from mmdet_detrx.models.layers.co_detr_layers import DetrxCoPositiveQueryGenerator, box_centre_features

C = 8


def _maps_and_boxes(seed=0):
    g = torch.Generator().manual_seed(seed)
    # a padded batch of 64 x 96 px, strides 8 / 16 / 32; image 1 is smaller than the batch
    maps = [torch.randn(2, C, 64 // s, 96 // s, generator=g) for s in (8, 16, 32)]
    metas = [dict(img_shape=(64, 96), batch_input_shape=(64, 96)), dict(img_shape=(48, 80), batch_input_shape=(64, 96))]
    centres = torch.rand(2, 6, 2, generator=g) * 0.9 + 0.05
    sizes = torch.tensor([0.05, 0.2, 0.4, 0.7, 0.95, 0.12])[None, :, None].expand(2, -1, 2)
    return maps, torch.cat([centres, sizes], -1), metas


def _bilinear(feat, x, y):
    """feat (C, H, W) at continuous pixel-centre coordinates (align_corners=False), zeros outside."""
    _, h, w = feat.shape
    x0, y0 = math.floor(x), math.floor(y)
    out = torch.zeros(feat.size(0))
    for xi, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
        for yi, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
            if 0 <= xi < w and 0 <= yi < h:
                out += wx * wy * feat[:, yi, xi]
    return out


def _brute_force(maps, boxes, metas, cells=7.0):
    out = torch.zeros(*boxes.shape[:2], C)
    for b, meta in enumerate(metas):
        img_h, img_w = meta['img_shape']
        pad_h, pad_w = meta['batch_input_shape']
        for i, (cx, cy, bw, bh) in enumerate(boxes[b].tolist()):
            stride0 = pad_w / maps[0].shape[-1]
            size = math.sqrt(bw * img_w / stride0 * bh * img_h / stride0)
            level = min(max(math.floor(math.log2(size / cells + 1e-6)), 0), len(maps) - 1)
            feat = maps[level][b]
            x = cx * img_w / pad_w * feat.shape[-1] - 0.5
            y = cy * img_h / pad_h * feat.shape[-2] - 0.5
            out[b, i] = _bilinear(feat, x, y)
    return out


def test_box_centre_features_equal_per_box_sampling():
    maps, boxes, metas = _maps_and_boxes()
    got = box_centre_features(maps, boxes, metas)
    assert got.shape == (2, 6, C)
    assert torch.allclose(got, _brute_force(maps, boxes, metas), atol=1e-5)


def test_box_level_follows_box_size():
    """The same centre reads a coarser level as the box grows (each level holds a distinct constant)."""
    maps = [torch.full((1, C, 256 // s, 384 // s), float(level)) for level, s in enumerate((8, 16, 32))]
    metas = [dict(img_shape=(256, 384), batch_input_shape=(256, 384))]
    sizes = torch.tensor([0.05, 0.4, 0.9])  # ~2, 16 and 35 cells of the finest (32 x 48) level
    boxes = torch.stack([torch.full_like(sizes, 0.5), torch.full_like(sizes, 0.5), sizes, sizes], -1)[None]
    assert box_centre_features(maps, boxes, metas)[0, :, 0].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize('out_channels', [C, 2 * C])
def test_content_term_enters_the_content_query_only(out_channels):
    maps, boxes, metas = _maps_and_boxes()
    torch.manual_seed(0)
    with_content = DetrxCoPositiveQueryGenerator(embed_dims=C, num_groups=2, out_channels=out_channels)
    without = DetrxCoPositiveQueryGenerator(embed_dims=C, num_groups=2, out_channels=out_channels,
                                            with_content_feat=False)
    without.load_state_dict(with_content.state_dict(), strict=False)
    query = with_content(boxes, 1, maps, metas)
    box_only = without(boxes, 1)
    assert query.shape == box_only.shape == (2, 6, out_channels)
    positional = out_channels - C
    assert torch.equal(query[..., :positional], box_only[..., :positional])
    feats = box_centre_features(maps, boxes, metas)
    content = with_content.content_norm[1](with_content.content_proj[1](feats))
    assert torch.allclose(query[..., positional:], box_only[..., positional:] + content, atol=1e-6)
    query.sum().backward()
    assert with_content.content_proj[1].weight.grad.abs().sum() > 0
    assert with_content.content_proj[0].weight.grad is None  # the other head's projection is not used


def test_content_term_needs_the_feature_maps():
    maps, boxes, metas = _maps_and_boxes()
    generator = DetrxCoPositiveQueryGenerator(embed_dims=C, num_groups=1)
    with pytest.raises(ValueError, match='needs the feature maps'):
        generator(boxes, 0)
    with pytest.raises(ValueError, match='feature maps have 16 channels'):
        generator(boxes, 0, [torch.cat([m, m], 1) for m in maps], metas)
    with pytest.raises(ValueError, match='out_channels'):
        DetrxCoPositiveQueryGenerator(embed_dims=C, out_channels=3 * C)
