"""ResNet whose dilated stages follow torchvision's ``replace_stride_with_dilation`` (DETR-family DC5)."""
from typing import Tuple

from torch import nn

from mmdet.models.backbones import ResNet
from mmdet.models.backbones.resnet import Bottleneck
from mmdet.registry import MODELS


@MODELS.register_module()
class TVDilatedResNet(ResNet):
    """:class:`mmdet.models.backbones.ResNet` with torchvision's dilation layout in dilated stages.

    DETR, Conditional DETR and UP-DETR build their DC5 backbones with torchvision's
    ``replace_stride_with_dilation``: in a stage that trades its stride for dilation ``d``, the first block keeps
    the previous stage's dilation (1 for C5) in its 3x3 conv and only the later blocks use ``d`` (torchvision
    has no dilated BasicBlock; here a BasicBlock stage follows the same rule on its dilated ``conv1``). mmdet's
    ``ResNet(dilations=(1, 1, 1, 2))`` dilates every block of the stage, the first included, so weights converted
    from the official DC5 releases would see a different receptive field. This class builds mmdet's ResNet (same
    parameters and state-dict keys) and then sets the first block's 3x3 conv of each dilated stage to the
    previous stage's dilation.

    Args:
        *args, **kwargs: as :class:`mmdet.models.backbones.ResNet`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        previous = 1
        for layer_name, dilation in zip(self.res_layers, self.dilations):
            if dilation != previous:
                _set_dilation(_dilated_conv(getattr(self, layer_name)[0]), previous)
            previous = dilation

    @property
    def stage_dilations(self) -> Tuple[Tuple[int, ...], ...]:
        """Dilation of every block's 3x3 conv, per stage (for inspection and tests)."""
        return tuple(
            tuple(_dilated_conv(block).dilation[0] for block in getattr(self, name)) for name in self.res_layers)


def _dilated_conv(block: nn.Module) -> nn.Conv2d:
    """The 3x3 conv that carries a block's dilation: ``conv2`` of a Bottleneck, ``conv1`` of a BasicBlock."""
    return block.conv2 if isinstance(block, Bottleneck) else block.conv1


def _set_dilation(conv: nn.Conv2d, dilation: int) -> None:
    """Changes a 3x3 conv's dilation in place, keeping the output size (padding = dilation)."""
    if conv.kernel_size != (3, 3):
        raise ValueError(f'expected a 3x3 conv, got kernel {conv.kernel_size}')
    conv.dilation = (dilation, dilation)
    conv.padding = (dilation, dilation)
