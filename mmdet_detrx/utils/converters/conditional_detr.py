"""Convert official Conditional DETR checkpoints to the mmdet 3.x ``ConditionalDETR`` layout.

Source: the Atten4Vis/ConditionalDETR release. Its ``main.py`` saves
``{'model': model.state_dict(), 'optimizer', 'lr_scheduler', 'epoch', 'args'}``; only ``'model'`` is used
here (``args`` is read by the CLI for the DC5 flag and the head count, which the weights do not reveal).

Key mapping (``i`` encoder layer, ``j`` decoder layer, ``d`` hidden size)::

    official                                              mmdet ConditionalDETR
    backbone.0.body.{conv1,bn1,layerN.M.*}                backbone.{conv1,bn1,layerN.M.*}   (same torchvision
                                                          ResNet names; FrozenBatchNorm2d -> BN, a zero
                                                          ``num_batches_tracked`` is added per BN)
    input_proj                (Conv2d C->d, 1x1)          neck.convs.0.conv   (ChannelMapper, no norm/act)
    query_embed.weight                                    query_embedding.weight
    transformer.encoder.layers.i.self_attn.in_proj_*      encoder.layers.i.self_attn.attn.in_proj_*
    transformer.encoder.layers.i.self_attn.out_proj       encoder.layers.i.self_attn.attn.out_proj
    transformer.encoder.layers.i.linear1 / linear2        encoder.layers.i.ffn.layers.0.0 / ffn.layers.1
    transformer.encoder.layers.i.norm1 / norm2            encoder.layers.i.norms.0 / norms.1
    transformer.decoder.layers.j.sa_{qcontent,qpos,kcontent,kpos,v}_proj
                                                          decoder.layers.j.self_attn.{...}_proj
    transformer.decoder.layers.j.self_attn.out_proj       decoder.layers.j.self_attn.out_proj
    transformer.decoder.layers.j.ca_{qcontent,qpos,kcontent,kpos,v,qpos_sine}_proj
                                                          decoder.layers.j.cross_attn.{...}_proj
                                                          (``qpos`` exists in layer 0 only, on both sides)
    transformer.decoder.layers.j.cross_attn.out_proj      decoder.layers.j.cross_attn.out_proj
    transformer.decoder.layers.j.linear1 / linear2        decoder.layers.j.ffn.layers.0.0 / ffn.layers.1
    transformer.decoder.layers.j.norm1 / norm2 / norm3    decoder.layers.j.norms.0 / 1 / 2
    transformer.decoder.norm                              decoder.post_norm
    transformer.decoder.query_scale.layers.k              decoder.query_scale.layers.k
    transformer.decoder.ref_point_head.layers.k           decoder.ref_point_head.layers.k
    class_embed                                           bbox_head.fc_cls   (rows remapped, see below)
    bbox_embed.layers.0 / 1 / 2                           bbox_head.reg_ffn.layers.0.0 / reg_ffn.layers.1 /
                                                          bbox_head.fc_reg

Both sides keep the encoder self-attention packed (``nn.MultiheadAttention.in_proj_weight`` of shape
``[3d, d]``; mmcv's ``MultiheadAttention`` wraps the same torch module as ``.attn``) and the decoder
projections separate (the official decoder's own ``MultiheadAttention`` only owns ``out_proj``), so no
tensor is split, concatenated or transposed: every value is copied unchanged, except the class rows.

Classes: the official COCO models are trained with ``num_classes=91`` = max COCO category id + 1, so row
``c`` of ``class_embed`` scores COCO category id ``c`` (row 0 and the ten ids COCO never uses stay
untrained). mmdet's ``CocoDataset`` uses 80 contiguous labels in ascending category-id order, so label
``l`` takes row ``COCO_CATEGORY_IDS[l]``. ``class_mapping='auto'`` (default) applies this when the source
has 91 rows and keeps the rows otherwise; ``'coco'`` requires it, ``'none'`` keeps all rows, and a
sequence of ints selects those source rows in target-label order (for other datasets).

The DC5 variant (``--dilation``) has exactly the same keys; only the mmdet config differs
(``backbone=dict(type='TVDilatedResNet', strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2))``).

Functional differences between the official model and mmdet ``ConditionalDETR`` with converted weights
(the transformer + head path from backbone features is numerically identical, see the tests):

* DC5 only: torchvision builds the first block of the dilated stage 4 with the previous dilation (its
  3x3 ``layer4.0.conv2`` has dilation 1, padding 1) and dilates only the later blocks; mmdet's ``ResNet``
  gives every block of the stage ``dilations[3]``, so ``layer4.0.conv2`` gets dilation 2 / padding 2.
  Our DC5 configs use ``TVDilatedResNet`` (mmdet_detrx/models/backbones/resnet_dc.py), which keeps
  torchvision's layout with the same keys; with mmdet's plain ``ResNet`` the official DC5 features differ.
* Class rows: the 11 rows dropped by the 91 -> 80 mapping (row 0 and the ten unused ids) were never
  positives in training, but the official post-processing ranks them in its top-100 too; dropping them
  can only change detections that had one of those rows in the top 100.
* Not model code: the official test resize (``int()`` truncation, PIL bilinear) and mmdet's ``Resize``
  (rounding, cv2 bilinear) can differ by a pixel; both normalise with the same ImageNet mean/std in RGB.
* The decoder's sine embedding of reference points has 128 features per coordinate hard-coded on both
  sides, so only ``embed_dims=256`` models can run forward (any size converts).
"""
import re
from collections import OrderedDict
from typing import List, Mapping, Sequence

import torch

from .common import (DETR_FAMILY_RULES, PARAM, SRC_DEC, ClassMapping, ConversionError, ConversionReport,
                     NoCounterpart, class_rows, compile_rules, describe_detr_family, detr_family_target_keys,
                     apply_key_rules, enforce_report, require_tensors, settle_expected_keys, unwrap_state_dict)

# Keys every official Conditional DETR detection checkpoint has; used to recognise the format.
SIGNATURE_KEYS = (
    'query_embed.weight',
    'input_proj.weight',
    'class_embed.weight',
    'bbox_embed.layers.0.weight',
    'transformer.decoder.query_scale.layers.0.weight',
    'transformer.decoder.ref_point_head.layers.0.weight',
    'transformer.decoder.layers.0.ca_qpos_sine_proj.weight',
)


# ---------------------------------------------------------------------------------------------------
# key rules: (regex matched against the whole source key, function of the match -> target key or a
# ``NoCounterpart`` reason; the parts named alike in the DETR family are in ``common.DETR_FAMILY_RULES``)


def _cross_qpos(m: 're.Match') -> str:
    if int(m['i']) == 0:
        return f"decoder.layers.0.cross_attn.qpos_proj.{m['p']}"
    return NoCounterpart('mmdet keeps cross_attn.qpos_proj in decoder layer 0 only (the official model '
                         'sets ca_qpos_proj=None in later layers too)')


_RULES = DETR_FAMILY_RULES + compile_rules([
    (SRC_DEC + r'sa_(?P<w>qcontent|qpos|kcontent|kpos|v)_proj\.' + PARAM,
     lambda m: f"decoder.layers.{m['i']}.self_attn.{m['w']}_proj.{m['p']}"),
    (SRC_DEC + r'ca_qpos_proj\.' + PARAM, _cross_qpos),
    (SRC_DEC + r'ca_(?P<w>qcontent|kcontent|kpos|v|qpos_sine)_proj\.' + PARAM,
     lambda m: f"decoder.layers.{m['i']}.cross_attn.{m['w']}_proj.{m['p']}"),
    (SRC_DEC + r'(?P<a>self_attn|cross_attn)\.out_proj\.' + PARAM,
     lambda m: f"decoder.layers.{m['i']}.{m['a']}.out_proj.{m['p']}"),
    (r'transformer\.decoder\.(?P<mlp>query_scale|ref_point_head)\.layers\.(?P<k>[01])\.' + PARAM,
     lambda m: f"decoder.{m['mlp']}.layers.{m['k']}.{m['p']}"),
])


# ---------------------------------------------------------------------------------------------------
# source handling


def _format_hint(keys: Sequence[str]) -> str:
    if any(k.startswith('detr.') for k in keys):
        return ' (keys start with "detr.": this is a segmentation (DETRsegm) checkpoint, not supported)'
    if any(k.startswith(('bbox_head.', 'decoder.layers.', 'query_embedding.')) for k in keys):
        return ' (it looks like an mmdet-layout checkpoint already)'
    if any('multihead_attn.' in k for k in keys):
        return ' (it looks like an original DETR checkpoint)'
    return ''


def _unwrap_source(src: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    """The model state dict of ``src`` (a state dict or a full ``{'model': ...}`` checkpoint)."""
    src = unwrap_state_dict(src)
    missing = [k for k in SIGNATURE_KEYS if k not in src]
    if missing:
        raise ConversionError('not an official Conditional DETR checkpoint: missing keys '
                              f'{missing}{_format_hint(list(src.keys()))}')
    require_tensors(src)
    return src


def describe_conditional_detr(src: Mapping) -> dict:
    """Structure of an official checkpoint: hidden size, layer counts, classes, ResNet depth...

    The number of attention heads and the DC5 flag are not recoverable from the weights (read them
    from the checkpoint's ``args`` if it has them).

    Raises:
        ConversionError: ``src`` is not an official Conditional DETR checkpoint.
    """
    return describe_detr_family(_unwrap_source(src))


def _expected_target_keys(info: dict, with_num_batches_tracked: bool) -> List[str]:
    """Target keys an mmdet ConditionalDETR of the inferred structure has."""
    keys = detr_family_target_keys(info, with_num_batches_tracked)
    for j in range(info['num_decoder_layers']):
        pre = f'decoder.layers.{j}.'
        mods = [f'self_attn.{n}_proj' for n in ('qcontent', 'qpos', 'kcontent', 'kpos', 'v', 'out')]
        cross = ['qcontent'] + (['qpos'] if j == 0 else []) + ['kcontent', 'kpos', 'v', 'qpos_sine', 'out']
        mods += [f'cross_attn.{n}_proj' for n in cross]
        keys += [f'{pre}{mod}.{p}' for mod in mods for p in ('weight', 'bias')]
    for mod in ('decoder.query_scale.layers.0', 'decoder.query_scale.layers.1', 'decoder.ref_point_head.layers.0',
                'decoder.ref_point_head.layers.1'):
        keys += [f'{mod}.{p}' for p in ('weight', 'bias')]
    return keys


# ---------------------------------------------------------------------------------------------------
# public API


def convert_conditional_detr_with_report(src_state_dict: Mapping,
                                         class_mapping: ClassMapping = 'auto',
                                         add_num_batches_tracked: bool = True) -> ConversionReport:
    """Converts and reports instead of raising on unused / missing keys.

    Args:
        src_state_dict: the official model state dict, or the whole checkpoint dict (``'model'`` is
            taken); a ``module.`` prefix on every key (DDP) is stripped.
        class_mapping: ``'auto'``, ``'coco'``, ``'none'`` or source row indices in target-label order
            (see the module docstring).
        add_num_batches_tracked: add a zero ``num_batches_tracked`` to every backbone BN that lacks one
            (the official FrozenBatchNorm2d has no such buffer; mmdet's BN has).

    Raises:
        ConversionError: not an official Conditional DETR checkpoint, or a bad ``class_mapping``.
    """
    sd = _unwrap_source(src_state_dict)
    info = describe_detr_family(sd)
    rows = class_rows(class_mapping, info['num_classes'])
    report = ConversionReport(state_dict=OrderedDict(), class_rows=rows, info=info)
    apply_key_rules(sd, _RULES, report, rows, add_num_batches_tracked,
                    lambda key, target: str(target) if target is not None else 'no counterpart in mmdet '
                    'ConditionalDETR')
    settle_expected_keys(report, _expected_target_keys(info, add_num_batches_tracked), info['backbone_block'])
    return report


def convert_conditional_detr(src_state_dict: Mapping,
                             class_mapping: ClassMapping = 'auto',
                             allow_unused: bool = False,
                             allow_missing: bool = False,
                             add_num_batches_tracked: bool = True) -> 'OrderedDict[str, torch.Tensor]':
    """Official Conditional DETR state dict -> mmdet ``ConditionalDETR`` state dict.

    Args:
        src_state_dict: see :func:`convert_conditional_detr_with_report`.
        class_mapping: see :func:`convert_conditional_detr_with_report`.
        allow_unused: drop source keys without counterpart with a warning instead of raising.
        allow_missing: warn instead of raising when target keys are left without a value.
        add_num_batches_tracked: see :func:`convert_conditional_detr_with_report`.

    Returns:
        OrderedDict of mmdet key -> tensor (values are the source tensors, unchanged except the class
        rows).

    Raises:
        ConversionError: not an official checkpoint; unused source keys (unless ``allow_unused``);
            missing target keys (unless ``allow_missing``).
    """
    report = convert_conditional_detr_with_report(src_state_dict, class_mapping, add_num_batches_tracked)
    enforce_report(report.unused, report.missing, 'mmdet ConditionalDETR', allow_unused, allow_missing)
    return report.state_dict
