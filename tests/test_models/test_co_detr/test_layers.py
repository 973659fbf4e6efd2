"""Co-DETR layers: the memory neck and the positive-query packing and masks."""

import torch

import mmdet_detrx  # noqa: F401  (registers the modules)
from mmdet.registry import MODELS
from mmdet_detrx.models.layers.co_detr_layers import pack_positive_queries
from .helpers import NUM_CLASSES, random_positives


def test_memory_neck_reshapes_levels_and_adds_extra_level():
    neck = MODELS.build(dict(type='DetrxCoMemoryNeck', embed_dims=64))
    maps = [torch.randn(2, 64, h, w) for h, w in [(8, 12), (4, 6), (2, 3)]]
    memory = torch.cat([m.flatten(2).transpose(1, 2) for m in maps], dim=1)
    out = neck(memory, torch.tensor([[8, 12], [4, 6], [2, 3]]))
    assert len(out) == 4
    for got, want in zip(out, maps):
        assert torch.equal(got, want)
    assert out[3].shape == (2, 64, 1, 2)
    assert torch.allclose(out[3], neck.downsample(maps[-1]), atol=1e-5)


def test_pack_positive_queries_count_padding_and_targets():
    metas = [dict(img_shape=(120, 200)), dict(img_shape=(150, 160))]
    pos = [random_positives(3, 0), random_positives(12, 1)]
    group = pack_positive_queries(pos, metas, NUM_CLASSES, min_queries=9, max_queries=300)
    assert group.num_queries == 12  # the largest count, within [9, 300]
    assert group.valid.sum(1).tolist() == [3, 12]
    assert (group.labels[0, 3:] == NUM_CLASSES).all() and torch.equal(group.labels[0, :3], pos[0].labels)
    h, w = metas[0]['img_shape']
    x1, y1, x2, y2 = (pos[0].priors / torch.tensor([w, h, w, h])).unbind(-1)
    expected = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1).clamp(0, 1)
    assert torch.allclose(group.boxes[0, :3], expected)
    h, w = metas[1]['img_shape']
    gx1, gy1, gx2, gy2 = (pos[1].gt_bboxes / torch.tensor([w, h, w, h])).unbind(-1)
    assert torch.allclose(group.bbox_targets[1], torch.stack([(gx1 + gx2) / 2, (gy1 + gy2) / 2, gx2 - gx1,
                                                               gy2 - gy1], -1))
    assert (group.bbox_targets[0, 3:] == 0).all()

    # lower bound
    small = pack_positive_queries([random_positives(1, 2), random_positives(0, 3)], metas, NUM_CLASSES)
    assert small.num_queries == 9 and small.valid.sum(1).tolist() == [1, 0]
    # upper bound: a random subset of the positives, reproducible with the seed
    torch.manual_seed(0)
    big = pack_positive_queries([random_positives(50, 4), random_positives(7, 5)], metas, NUM_CLASSES, max_queries=20)
    torch.manual_seed(0)
    again = pack_positive_queries([random_positives(50, 4), random_positives(7, 5)], metas, NUM_CLASSES, max_queries=20)
    assert big.num_queries == 20 and big.valid.sum(1).tolist() == [20, 7]
    assert torch.equal(big.boxes, again.boxes)
    source = random_positives(50, 4)
    h, w = metas[0]['img_shape']
    src_boxes = pack_positive_queries([source], metas[:1], NUM_CLASSES, max_queries=50).boxes[0]
    idx = ((big.boxes[0][:, None] - src_boxes[None]).abs().amax(-1) < 1e-6).float().argmax(1)
    assert len(set(idx.tolist())) == 20
    assert torch.equal(big.labels[0], source.labels[idx])


def test_self_attn_mask_isolates_padding():
    metas = [dict(img_shape=(100, 100))] * 2
    group = pack_positive_queries([random_positives(2, 0), random_positives(4, 1)], metas, NUM_CLASSES, min_queries=5)
    mask = group.self_attn_mask(num_heads=3)
    assert mask.shape == (6, 5, 5) and mask.dtype == torch.bool
    assert torch.equal(mask[0], mask[2]) and torch.equal(mask[3], mask[5])  # same for every head of an image
    allowed = ~mask[0]  # image 0: queries 0, 1 real; 2, 3, 4 padding
    assert allowed[:2, :2].all() and not allowed[:2, 2:].any()
    assert torch.equal(allowed[2:, :], torch.eye(5, dtype=torch.bool)[2:])
    allowed = ~mask[3]  # image 1: 4 real
    assert allowed[:4, :4].all() and not allowed[:4, 4].any()
