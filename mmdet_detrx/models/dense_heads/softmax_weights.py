"""DETR's no-object weight for heads that subclass mmdet's ``DETRHead``.

``DETRHead.__init__`` turns ``loss_cls.bg_cls_weight`` into a per-class weight vector only when the head's class
*is* ``DETRHead`` (``self.__class__ is DETRHead``); a subclass would pass ``bg_cls_weight`` on to
``CrossEntropyLoss`` and fail. Subclasses call :func:`split_bg_cls_weight` first.
"""
from typing import Optional, Tuple

from mmdet.utils import ConfigType


def split_bg_cls_weight(loss_cls: ConfigType, num_classes: int, owner: str) -> Tuple[dict, Optional[float]]:
    """``loss_cls`` with ``bg_cls_weight`` folded into ``class_weight`` (DETRHead's rule), and that weight.

    Args:
        loss_cls: The classification loss config, e.g. ``CrossEntropyLoss`` with ``class_weight=1.0`` and
            ``bg_cls_weight=0.1``.
        num_classes: Foreground classes; the no-object class is the last of ``num_classes + 1``.
        owner: The head's name, for the error message.

    Returns:
        tuple: the loss config to build (``class_weight`` a list of ``num_classes + 1`` weights for a softmax loss
        with a float ``class_weight``; unchanged otherwise) and the no-object weight (None if not given).

    Raises:
        ValueError: ``bg_cls_weight`` given for a sigmoid loss or without a float ``class_weight``.
    """
    loss_cls = dict(loss_cls)
    bg_cls_weight = loss_cls.pop('bg_cls_weight', None)
    if not loss_cls.get('use_sigmoid', False) and isinstance(loss_cls.get('class_weight'), (int, float)):
        class_weight = float(loss_cls['class_weight'])
        bg_cls_weight = class_weight if bg_cls_weight is None else float(bg_cls_weight)
        loss_cls['class_weight'] = [class_weight] * num_classes + [bg_cls_weight]
    elif bg_cls_weight is not None:
        raise ValueError(f'{owner}: bg_cls_weight needs a softmax loss_cls with a float class_weight, '
                         f'got {loss_cls}')
    return loss_cls, bg_cls_weight


DETR_SOFTMAX_LOSS_CLS = dict(type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False, loss_weight=1.0,
                             class_weight=1.0)


class SoftmaxNoObjectMixin:
    """For subclasses of mmdet's ``DETRHead`` with its softmax classification: ``loss_cls.bg_cls_weight`` is the
    weight of the no-object class, as in ``DETRHead`` itself (folded in by :func:`split_bg_cls_weight`), and the
    default ``loss_cls`` is DETR's (cross-entropy, no-object weight 0.1). Put it before ``DETRHead`` in the bases.
    """

    def __init__(self, num_classes: int, *args, loss_cls: ConfigType = DETR_SOFTMAX_LOSS_CLS, **kwargs) -> None:
        loss_cls, bg_cls_weight = split_bg_cls_weight(loss_cls, num_classes, type(self).__name__)
        super().__init__(num_classes, *args, loss_cls=loss_cls, **kwargs)
        self.bg_cls_weight = bg_cls_weight or 0
