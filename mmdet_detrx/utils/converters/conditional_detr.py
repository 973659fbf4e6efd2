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
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

# COCO category ids that are never used by the 2017 detection annotations.
COCO_UNUSED_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
# The 80 COCO category ids in ascending order == mmdet CocoDataset label order (label l <-> id).
COCO_CATEGORY_IDS = tuple(i for i in range(1, 91) if i not in COCO_UNUSED_IDS)

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

ClassMapping = Union[str, Sequence[int]]


class ConversionError(ValueError):
    """The source cannot be converted (wrong format, keys without counterpart, missing keys)."""


@dataclass
class ConversionReport:
    """Everything :func:`convert_conditional_detr_with_report` found out.

    Attributes:
        state_dict: converted tensors in mmdet names.
        key_map: source key -> target key for every converted source key.
        unused: source keys with no counterpart (dropped), with a reason each.
        missing: target keys the source should have provided but did not.
        class_rows: source rows of ``class_embed`` used for target labels ``0..n-1``; ``None`` if the
            rows were kept as they are.
        info: structure inferred from the source (see :func:`describe_conditional_detr`).
    """
    state_dict: 'OrderedDict[str, torch.Tensor]'
    key_map: Dict[str, str] = field(default_factory=dict)
    unused: Dict[str, str] = field(default_factory=dict)
    missing: List[str] = field(default_factory=list)
    class_rows: Optional[List[int]] = None
    info: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------
# key rules: (regex matched against the whole source key, function of the match -> target key or a
# ``_NoCounterpart`` reason)


class _NoCounterpart(str):
    """A reason why a recognised source key has no place in the mmdet model."""


_PARAM = r'(?P<p>weight|bias)'
_ENC = r'transformer\.encoder\.layers\.(?P<i>\d+)\.'
_DEC = r'transformer\.decoder\.layers\.(?P<i>\d+)\.'


def _cross_qpos(m: 're.Match') -> str:
    if int(m['i']) == 0:
        return f"decoder.layers.0.cross_attn.qpos_proj.{m['p']}"
    return _NoCounterpart('mmdet keeps cross_attn.qpos_proj in decoder layer 0 only (the official model '
                          'sets ca_qpos_proj=None in later layers too)')


_RULES: List[Tuple['re.Pattern', Callable[['re.Match'], str]]] = [(re.compile(p), f) for p, f in [
    # backbone: torchvision ResNet names are mmdet ResNet names
    (r'backbone\.0\.body\.(?P<rest>(?:conv1|bn1|layer[1-4]\.\d+\.(?:conv[1-3]|bn[1-3]|downsample\.[01]))'
     r'\.(?:weight|bias|running_mean|running_var|num_batches_tracked))',
     lambda m: f"backbone.{m['rest']}"),
    (r'backbone\.0\.body\.fc\..*',
     lambda m: _NoCounterpart('ImageNet classifier of the ResNet; not part of the detector')),
    (r'backbone\.1\..*',
     lambda m: _NoCounterpart('learned positional embedding (--position_embedding learned); mmdet '
                              'ConditionalDETR only has the parameter-free sine encoding')),
    (r'input_proj\.' + _PARAM, lambda m: f"neck.convs.0.conv.{m['p']}"),
    (r'query_embed\.weight', lambda m: 'query_embedding.weight'),
    # encoder
    (_ENC + r'self_attn\.(?P<w>in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)',
     lambda m: f"encoder.layers.{m['i']}.self_attn.attn.{m['w']}"),
    (_ENC + r'linear1\.' + _PARAM, lambda m: f"encoder.layers.{m['i']}.ffn.layers.0.0.{m['p']}"),
    (_ENC + r'linear2\.' + _PARAM, lambda m: f"encoder.layers.{m['i']}.ffn.layers.1.{m['p']}"),
    (_ENC + r'norm(?P<n>[12])\.' + _PARAM,
     lambda m: f"encoder.layers.{m['i']}.norms.{int(m['n']) - 1}.{m['p']}"),
    (r'transformer\.encoder\.norm\..*',
     lambda m: _NoCounterpart('final encoder norm (only built with --pre_norm); mmdet '
                              'DetrTransformerEncoder has none')),
    # decoder
    (_DEC + r'sa_(?P<w>qcontent|qpos|kcontent|kpos|v)_proj\.' + _PARAM,
     lambda m: f"decoder.layers.{m['i']}.self_attn.{m['w']}_proj.{m['p']}"),
    (_DEC + r'ca_qpos_proj\.' + _PARAM, _cross_qpos),
    (_DEC + r'ca_(?P<w>qcontent|kcontent|kpos|v|qpos_sine)_proj\.' + _PARAM,
     lambda m: f"decoder.layers.{m['i']}.cross_attn.{m['w']}_proj.{m['p']}"),
    (_DEC + r'(?P<a>self_attn|cross_attn)\.out_proj\.' + _PARAM,
     lambda m: f"decoder.layers.{m['i']}.{m['a']}.out_proj.{m['p']}"),
    (_DEC + r'linear1\.' + _PARAM, lambda m: f"decoder.layers.{m['i']}.ffn.layers.0.0.{m['p']}"),
    (_DEC + r'linear2\.' + _PARAM, lambda m: f"decoder.layers.{m['i']}.ffn.layers.1.{m['p']}"),
    (_DEC + r'norm(?P<n>[123])\.' + _PARAM,
     lambda m: f"decoder.layers.{m['i']}.norms.{int(m['n']) - 1}.{m['p']}"),
    (r'transformer\.decoder\.norm\.' + _PARAM, lambda m: f"decoder.post_norm.{m['p']}"),
    (r'transformer\.decoder\.(?P<mlp>query_scale|ref_point_head)\.layers\.(?P<k>[01])\.' + _PARAM,
     lambda m: f"decoder.{m['mlp']}.layers.{m['k']}.{m['p']}"),
    # head
    (r'class_embed\.' + _PARAM, lambda m: f"bbox_head.fc_cls.{m['p']}"),
    (r'bbox_embed\.layers\.0\.' + _PARAM, lambda m: f"bbox_head.reg_ffn.layers.0.0.{m['p']}"),
    (r'bbox_embed\.layers\.1\.' + _PARAM, lambda m: f"bbox_head.reg_ffn.layers.1.{m['p']}"),
    (r'bbox_embed\.layers\.2\.' + _PARAM, lambda m: f"bbox_head.fc_reg.{m['p']}"),
]]

_RESNET_DEPTHS = {
    ('BasicBlock', (2, 2, 2, 2)): 18,
    ('BasicBlock', (3, 4, 6, 3)): 34,
    ('Bottleneck', (3, 4, 6, 3)): 50,
    ('Bottleneck', (3, 4, 23, 3)): 101,
    ('Bottleneck', (3, 8, 36, 3)): 152,
}
_BN_PARAMS = ('weight', 'bias', 'running_mean', 'running_var')


def _map_key(key: str) -> Optional[str]:
    """Target key, a ``_NoCounterpart`` reason, or ``None`` when no rule knows the key."""
    for pattern, target in _RULES:
        m = pattern.fullmatch(key)
        if m is not None:
            return target(m)
    return None


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
    if not isinstance(src, Mapping):
        raise ConversionError(f'expected a state dict (mapping), got {type(src).__name__}')
    if isinstance(src.get('model'), Mapping):
        src = src['model']
    elif isinstance(src.get('state_dict'), Mapping):
        src = src['state_dict']
    keys = list(src.keys())
    if keys and all(isinstance(k, str) and k.startswith('module.') for k in keys):
        src = OrderedDict((k[len('module.'):], v) for k, v in src.items())
    missing = [k for k in SIGNATURE_KEYS if k not in src]
    if missing:
        raise ConversionError('not an official Conditional DETR checkpoint: missing keys '
                              f'{missing}{_format_hint(list(src.keys()))}')
    not_tensors = [k for k, v in src.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ConversionError(f'state dict values must be tensors; these are not: {not_tensors}')
    return OrderedDict(src)


def _layer_count(keys: Sequence[str], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r'(\d+)\.')
    found = [int(m.group(1)) for m in map(pattern.match, keys) if m]
    return max(found) + 1 if found else 0


def _describe(sd: Mapping[str, torch.Tensor]) -> dict:
    keys = list(sd.keys())
    body = 'backbone.0.body.'
    blocks = []
    for stage in range(1, 5):
        blocks.append(_layer_count(keys, f'{body}layer{stage}.'))
    block = 'Bottleneck' if f'{body}layer1.0.conv3.weight' in sd else 'BasicBlock'
    query = sd['query_embed.weight']
    return dict(
        embed_dims=int(query.shape[1]),
        num_queries=int(query.shape[0]),
        num_classes=int(sd['class_embed.weight'].shape[0]),
        num_encoder_layers=_layer_count(keys, 'transformer.encoder.layers.'),
        num_decoder_layers=_layer_count(keys, 'transformer.decoder.layers.'),
        feedforward_channels=(int(sd['transformer.decoder.layers.0.linear1.weight'].shape[0])
                              if 'transformer.decoder.layers.0.linear1.weight' in sd else None),
        backbone_channels=int(sd['input_proj.weight'].shape[1]),
        backbone_block=block,
        backbone_stage_blocks=tuple(blocks),
        backbone_depth=_RESNET_DEPTHS.get((block, tuple(blocks))),
        learned_position_embedding=any(k.startswith('backbone.1.') for k in keys),
    )


def describe_conditional_detr(src: Mapping) -> dict:
    """Structure of an official checkpoint: hidden size, layer counts, classes, ResNet depth...

    The number of attention heads and the DC5 flag are not recoverable from the weights (read them
    from the checkpoint's ``args`` if it has them).

    Raises:
        ConversionError: ``src`` is not an official Conditional DETR checkpoint.
    """
    return _describe(_unwrap_source(src))


def _expected_target_keys(info: dict, with_num_batches_tracked: bool) -> List[str]:
    """Target keys an mmdet ConditionalDETR of the inferred structure has."""
    bn = list(_BN_PARAMS) + (['num_batches_tracked'] if with_num_batches_tracked else [])
    keys = ['backbone.conv1.weight'] + [f'backbone.bn1.{p}' for p in bn]
    n_convs = 3 if info['backbone_block'] == 'Bottleneck' else 2
    for stage, n_blocks in enumerate(info['backbone_stage_blocks'], start=1):
        for b in range(n_blocks):
            prefix = f'backbone.layer{stage}.{b}.'
            for c in range(1, n_convs + 1):
                keys.append(f'{prefix}conv{c}.weight')
                keys += [f'{prefix}bn{c}.{p}' for p in bn]
            if b == 0 and (stage > 1 or n_convs == 3):
                keys.append(f'{prefix}downsample.0.weight')
                keys += [f'{prefix}downsample.1.{p}' for p in bn]
    wb = ('weight', 'bias')
    keys += [f'neck.convs.0.conv.{p}' for p in wb] + ['query_embedding.weight']
    for i in range(info['num_encoder_layers']):
        pre = f'encoder.layers.{i}.'
        keys += [pre + 'self_attn.attn.in_proj_weight', pre + 'self_attn.attn.in_proj_bias']
        for mod in ('self_attn.attn.out_proj', 'ffn.layers.0.0', 'ffn.layers.1', 'norms.0', 'norms.1'):
            keys += [f'{pre}{mod}.{p}' for p in wb]
    for j in range(info['num_decoder_layers']):
        pre = f'decoder.layers.{j}.'
        mods = [f'self_attn.{n}_proj' for n in ('qcontent', 'qpos', 'kcontent', 'kpos', 'v', 'out')]
        cross = ['qcontent'] + (['qpos'] if j == 0 else []) + ['kcontent', 'kpos', 'v', 'qpos_sine', 'out']
        mods += [f'cross_attn.{n}_proj' for n in cross]
        mods += ['ffn.layers.0.0', 'ffn.layers.1', 'norms.0', 'norms.1', 'norms.2']
        for mod in mods:
            keys += [f'{pre}{mod}.{p}' for p in wb]
    for mod in ('decoder.post_norm', 'decoder.query_scale.layers.0', 'decoder.query_scale.layers.1',
                'decoder.ref_point_head.layers.0', 'decoder.ref_point_head.layers.1', 'bbox_head.fc_cls',
                'bbox_head.reg_ffn.layers.0.0', 'bbox_head.reg_ffn.layers.1', 'bbox_head.fc_reg'):
        keys += [f'{mod}.{p}' for p in wb]
    return keys


def _class_rows(class_mapping: ClassMapping, num_rows: int) -> Optional[List[int]]:
    if isinstance(class_mapping, str):
        if class_mapping == 'none':
            return None
        if class_mapping == 'auto':
            return list(COCO_CATEGORY_IDS) if num_rows == 91 else None
        if class_mapping == 'coco':
            if num_rows != 91:
                raise ConversionError(
                    f"class_mapping='coco' needs 91 class rows (COCO category ids 0..90), class_embed has "
                    f'{num_rows}')
            return list(COCO_CATEGORY_IDS)
        raise ConversionError(f"class_mapping must be 'auto', 'coco', 'none' or a sequence of row indices, "
                              f'got {class_mapping!r}')
    rows = [int(r) for r in class_mapping]
    bad = [r for r in rows if not 0 <= r < num_rows]
    if not rows or bad:
        raise ConversionError(f'class_mapping rows must be non-empty and within [0, {num_rows}); bad: {bad}')
    return rows


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
    info = _describe(sd)
    rows = _class_rows(class_mapping, info['num_classes'])
    report = ConversionReport(state_dict=OrderedDict(), class_rows=rows, info=info)
    out = report.state_dict
    for key, value in sd.items():
        target = _map_key(key)
        if target is None:
            report.unused[key] = 'no counterpart in mmdet ConditionalDETR'
            continue
        if isinstance(target, _NoCounterpart):
            report.unused[key] = str(target)
            continue
        if target in out:  # cannot happen with the rules above, guard against future edits
            raise ConversionError(f'two source keys map to {target}')
        if rows is not None and target.startswith('bbox_head.fc_cls.'):
            value = value[rows]
        out[target] = value
        report.key_map[key] = target
        if add_num_batches_tracked and target.startswith('backbone.') and target.endswith('.running_var'):
            nbt = target[:-len('running_var')] + 'num_batches_tracked'
            if (key[:-len('running_var')] + 'num_batches_tracked') not in sd:
                out[nbt] = torch.tensor(0, dtype=torch.long)
    expected = _expected_target_keys(info, add_num_batches_tracked)
    report.missing = [k for k in expected if k not in out]
    # keys of the output that the inferred structure does not explain (e.g. a stray backbone block)
    unexplained = set(out) - set(expected)
    for key, target in list(report.key_map.items()):
        if target in unexplained:
            report.unused[key] = (f'outside the {info["backbone_block"]} ResNet layout inferred from the '
                                  'other backbone keys')
            del report.key_map[key]
    for target in unexplained:
        del out[target]
    return report


def _format_keys(items) -> str:
    return ''.join(f'\n  {item}' for item in items)


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
    if report.unused:
        msg = (f'{len(report.unused)} source key(s) have no counterpart in mmdet ConditionalDETR:'
               + _format_keys(f'{k}: {why}' for k, why in report.unused.items()))
        if not allow_unused:
            raise ConversionError(msg + '\n(pass allow_unused=True / --allow-unused to drop them)')
        warnings.warn(msg + '\n(dropped)')
    if report.missing:
        msg = (f'{len(report.missing)} key(s) of mmdet ConditionalDETR got no value from the source:'
               + _format_keys(report.missing))
        if not allow_missing:
            raise ConversionError(msg + '\n(pass allow_missing=True / --allow-missing to accept)')
        warnings.warn(msg)
    return report.state_dict


def check_against_state_dict(converted: Mapping[str, torch.Tensor],
                             target: Mapping[str, torch.Tensor]) -> Dict[str, list]:
    """Compares a converted state dict with a built model's ``state_dict()``.

    Returns:
        dict with ``missing`` (in target, not converted), ``unexpected`` (converted, not in target) and
        ``shape_mismatch`` (``(key, converted_shape, target_shape)``); all empty means a strict load works.
    """
    return dict(
        missing=[k for k in target if k not in converted],
        unexpected=[k for k in converted if k not in target],
        shape_mismatch=[(k, tuple(v.shape), tuple(target[k].shape)) for k, v in converted.items()
                        if k in target and tuple(v.shape) != tuple(target[k].shape)],
    )
