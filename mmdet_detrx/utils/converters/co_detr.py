"""Co-DETR checkpoint layouts: ours -> its base detector, the base -> ours, mmdet's projects/CO-DETR -> ours.

**To the base** (``tools/model_converters/co_detr_to_base.py``, :func:`convert_co_detr_to_base`):

Co-DETR's auxiliary heads only train; at test time :class:`~mmdet_detrx.models.detectors.DetrxCoDETR` runs its
``query_head`` (a whole DINO / Deformable DETR / Conditional DETR) on the shared backbone and neck. Keeping
``backbone.*`` and ``neck.*`` as they are and ``query_head.X`` as ``X`` gives a checkpoint of the plain base
detector: same predictions, the base config's inference cost, and a smaller file.

**From the base** (:func:`lift_base_checkpoint`): a checkpoint of the base detector alone gets its keys under
``query_head.``, so ``load_from`` a base checkpoint starts a Co-DETR training.

**From mmdet's projects/CO-DETR** (:func:`convert_co_dino_reference_keys`): its released Co-DINO checkpoints.
The reference keeps an mmcv-1.x style transformer inside its query head (``query_head.transformer.*`` with
``attentions.N`` / ``ffns.N`` layers) while :class:`DetrxCoDETR` wraps mmdet's own DINO (``query_head`` *is*
the DINO detector without backbone and neck). The top-level layout is shared (``backbone``, ``neck``,
``query_head``, ``rpn_head``, ``roi_head.N``, ``bbox_head.N``); inside the query head the names differ
one to one with identical shapes. :func:`convert_co_dino_reference_keys` renames a reference state dict in
place; :class:`DetrxCoDETR` runs it as a load-state-dict pre-hook, so ``load_from`` / ``load_checkpoint`` /
``load_state_dict(strict=True)`` accept the released checkpoints as they are.
"""
import re
from collections import OrderedDict
from typing import Mapping, MutableMapping

import torch

from .common import ConversionError, ConversionReport, check_against_state_dict, format_keys, unwrap_state_dict
from .transfer import base_key, co_detr_key, is_co_detr_state



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


# (reference pattern, our replacement), applied to the key with the module prefix removed, first match wins.
_RULES = [
    (r'^query_head\.transformer\.encoder\.layers\.(\d+)\.attentions\.0\.', r'query_head.encoder.layers.\1.self_attn.'),
    (r'^query_head\.transformer\.encoder\.layers\.(\d+)\.ffns\.0\.', r'query_head.encoder.layers.\1.ffn.'),
    (r'^query_head\.transformer\.decoder\.layers\.(\d+)\.attentions\.0\.', r'query_head.decoder.layers.\1.self_attn.'),
    (r'^query_head\.transformer\.decoder\.layers\.(\d+)\.attentions\.1\.', r'query_head.decoder.layers.\1.cross_attn.'),
    (r'^query_head\.transformer\.decoder\.layers\.(\d+)\.ffns\.0\.', r'query_head.decoder.layers.\1.ffn.'),
    (r'^query_head\.transformer\.(encoder|decoder)\.layers\.', r'query_head.\1.layers.'),  # norms.N
    (r'^query_head\.transformer\.decoder\.ref_point_head\.0\.', 'query_head.decoder.ref_point_head.layers.0.'),
    (r'^query_head\.transformer\.decoder\.ref_point_head\.2\.', 'query_head.decoder.ref_point_head.layers.1.'),
    (r'^query_head\.transformer\.decoder\.norm\.', 'query_head.decoder.norm.'),
    (r'^query_head\.transformer\.level_embeds$', 'query_head.level_embed'),
    (r'^query_head\.transformer\.enc_output\.', 'query_head.memory_trans_fc.'),
    (r'^query_head\.transformer\.enc_output_norm\.', 'query_head.memory_trans_norm.'),
    (r'^query_head\.transformer\.query_embed\.', 'query_head.query_embedding.'),
    (r'^query_head\.transformer\.aux_pos_trans\.(\d+)\.', r'query_generator.proj.\1.'),
    (r'^query_head\.transformer\.aux_pos_trans_norm\.(\d+)\.', r'query_generator.norm.\1.'),
    (r'^query_head\.(cls_branches|reg_branches)\.', r'query_head.bbox_head.\1.'),
    (r'^query_head\.dn_generator\.', 'query_head.dn_query_generator.'),
    (r'^query_head\.downsample\.', 'memory_neck.downsample.'),
]
_COMPILED = [(re.compile(p), r) for p, r in _RULES]
_REFERENCE_MARKERS = ('query_head.transformer.', 'query_head.dn_generator.', 'query_head.cls_branches.')


def convert_co_dino_key(key: str) -> str:
    """Our name of one reference Co-DINO key (without module prefix); unchanged if no rule applies."""
    for pattern, repl in _COMPILED:
        new_key, n = pattern.subn(repl, key)
        if n:
            return new_key
    return key


def is_reference_co_dino_state_dict(state_dict: MutableMapping, prefix: str = '') -> bool:
    """Whether ``state_dict`` holds reference-layout Co-DINO keys under ``prefix``."""
    return any(k.startswith(prefix + m) for k in state_dict for m in _REFERENCE_MARKERS)


def convert_co_dino_reference_keys(state_dict: MutableMapping, prefix: str = '') -> bool:
    """Renames reference-layout Co-DINO keys under ``prefix`` to :class:`DetrxCoDETR`'s names, in place.

    Args:
        state_dict: A state dict, e.g. the ``state_dict`` entry of a released checkpoint.
        prefix: Prefix of the detector's keys inside ``state_dict`` (as torch passes to load hooks).

    Returns:
        Whether anything was converted (False for a state dict already in our layout).
    """
    if not is_reference_co_dino_state_dict(state_dict, prefix):
        return False
    for key in [k for k in state_dict if k.startswith(prefix)]:
        new_key = prefix + convert_co_dino_key(key[len(prefix):])
        if new_key != key:
            assert new_key not in state_dict, f'converting {key} would overwrite {new_key}'
            state_dict[new_key] = state_dict.pop(key)
    return True


def lift_base_checkpoint(state_dict: MutableMapping, prefix: str = '') -> int:
    """Moves a base detector's keys under ``query_head.`` (backbone and neck stay), in place.

    For a state dict without any ``query_head.`` key (a checkpoint of the base detector alone, e.g. one written
    by ``tools/model_converters/transfer.py`` for the base config, or a fine-tuned DINO): every key under
    ``prefix`` other than ``backbone.*`` / ``neck.*`` and the auxiliary heads' ``bbox_head.<index>.*`` gets
    ``query_head.`` (the base's ``bbox_head.fc_cls.*`` becomes ``query_head.bbox_head.fc_cls.*``).

    Returns:
        Number of moved keys (0 if the state dict already has ``query_head.`` keys).
    """
    keys = [k[len(prefix):] for k in state_dict if k.startswith(prefix)]
    if not keys or is_co_detr_state(keys):
        return 0
    aux = re.compile(r'^(bbox_head|roi_head)\.\d+\.|^(rpn_head|memory_neck|query_generator)\.')
    moved = 0
    for key in keys:
        new = co_detr_key(key)
        if new != key and not aux.match(key):
            state_dict[prefix + new] = state_dict.pop(prefix + key)
            moved += 1
    return moved
