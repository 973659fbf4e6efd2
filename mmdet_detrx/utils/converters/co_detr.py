"""Co-DETR checkpoint -> checkpoint of its base detector (``tools/model_converters/co_detr_to_base.py``).

Co-DETR's auxiliary heads only train; at test time :class:`~mmdet_detrx.models.detectors.DetrxCoDETR` runs its
``query_head`` (a whole DINO / Deformable DETR / Conditional DETR) on the shared backbone and neck. Keeping
``backbone.*`` and ``neck.*`` as they are and ``query_head.X`` as ``X`` gives a checkpoint of the plain base
detector: same predictions, the base config's inference cost, and a smaller file.
"""
from collections import OrderedDict
from typing import Mapping

import torch

from .common import ConversionError, ConversionReport, check_against_state_dict, format_keys, unwrap_state_dict
from .transfer import base_key, is_co_detr_state



def convert_co_detr_to_base(src: Mapping, target: Mapping[str, torch.Tensor], half: bool = False) -> ConversionReport:
    """Maps a Co-DETR state dict onto its base detector's keys and checks it against ``target`` strictly.

    Args:
        src: A Co-DETR checkpoint (``state_dict`` inside or the state dict itself).
        target: ``state_dict()`` of the base detector built from its config.
        half: store floating-point tensors as float16 (half the file; loading casts back to the model's dtype).

    Returns:
        ConversionReport: ``state_dict`` in the base detector's names, ``unused`` = the training-only parts.

    Raises:
        ConversionError: not a Co-DETR checkpoint (no ``query_head.`` keys), or the result would not load strictly
            into ``target`` (missing, unexpected or mis-shaped keys, listed).
    """
    sd = unwrap_state_dict(src)
    if not is_co_detr_state(sd):
        raise ConversionError('not a Co-DETR checkpoint: no query_head.* keys')
    report = ConversionReport(state_dict=OrderedDict())
    for key, value in sd.items():
        new = base_key(key)
        if new is None:
            report.unused[key] = 'training-only part of Co-DETR (auxiliary head, memory neck, query generator)'
            continue
        if half and value.is_floating_point():
            value = value.half()
        report.state_dict[new] = value
        report.key_map[key] = new
    check = check_against_state_dict(report.state_dict, target)
    if any(check.values()):
        raise ConversionError(
            'the converted checkpoint does not fit the base detector of the config:'
            f'\nmissing:{format_keys(check["missing"])}\nunexpected:{format_keys(check["unexpected"])}'
            f'\nshape mismatch:{format_keys(check["shape_mismatch"])}')
    return report
