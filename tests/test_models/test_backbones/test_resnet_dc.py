"""TVDilatedResNet: torchvision's dilation layout on mmdet's ResNet, same keys and output size."""
import pytest
import torch
from torch import nn

import mmdet_detrx  # noqa: F401
from mmdet.models.backbones import ResNet
from mmdet.registry import MODELS


def _reference_dilations(blocks_per_stage, dilations):
    """Independent statement of torchvision's rule: a stage's first block keeps the previous dilation."""
    out, previous = [], 1
    for n, d in zip(blocks_per_stage, dilations):
        out.append(tuple([previous] + [d] * (n - 1)))
        previous = d
    return tuple(out)


@pytest.mark.parametrize('depth,blocks,channels', [(18, (2, 2, 2, 2), 512), (50, (3, 4, 6, 3), 2048)])
def test_dc5_layout_keys_and_shapes(depth, blocks, channels):
    cfg = dict(depth=depth, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2), out_indices=(3, ), init_cfg=None)
    ours = MODELS.build(dict(type='TVDilatedResNet', **cfg))
    mmdet_dc5 = ResNet(**cfg)
    ours.eval(), mmdet_dc5.eval()  # mmdet's ResNet.train() returns None: no chaining
    assert ours.stage_dilations == _reference_dilations(blocks, (1, 1, 1, 2))
    conv = 'conv2' if depth >= 50 else 'conv1'
    assert [getattr(b, conv).dilation[0] for b in mmdet_dc5.layer4] == [2] * blocks[3]  # mmdet: first one too
    ours.load_state_dict(mmdet_dc5.state_dict(), strict=True)
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        a, b = ours(x)[0], mmdet_dc5(x)[0]
    assert a.shape == b.shape == (1, channels, 6, 8)  # stride 16
    assert not torch.allclose(a, b)  # the first C5 block really sees a different receptive field
    first = getattr(ours.layer4[0], conv)
    assert first.padding == (1, 1) and isinstance(first, nn.Conv2d)


def test_undilated_equals_mmdet():
    cfg = dict(depth=18, out_indices=(3, ), init_cfg=None)
    ours, ref = MODELS.build(dict(type='TVDilatedResNet', **cfg)), ResNet(**cfg)
    ours.eval(), ref.eval()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x)[0], ref(x)[0])
