"""Pieces shared by the checkpoint converters: errors, key rules, source unwrapping, the torchvision ResNet
backbone of the DETR-family releases, COCO class rows and the strict-load check.

Only torch is needed to import this module.
"""
import re
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch

# COCO category ids that are never used by the 2017 detection annotations.
COCO_UNUSED_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
# The 80 COCO category ids in ascending order == mmdet CocoDataset label order (label l <-> id).
COCO_CATEGORY_IDS = tuple(i for i in range(1, 91) if i not in COCO_UNUSED_IDS)

ClassMapping = Union[str, Sequence[int]]
KeyRule = Tuple['re.Pattern', Callable[['re.Match'], str]]

PARAM = r'(?P<p>weight|bias)'
BN_PARAMS = ('weight', 'bias', 'running_mean', 'running_var')
RESNET_DEPTHS = {
    ('BasicBlock', (2, 2, 2, 2)): 18,
    ('BasicBlock', (3, 4, 6, 3)): 34,
    ('Bottleneck', (3, 4, 6, 3)): 50,
    ('Bottleneck', (3, 4, 23, 3)): 101,
    ('Bottleneck', (3, 8, 36, 3)): 152,
}
# the DETR-family releases keep the torchvision ResNet under ``backbone.0.body`` (Joiner(backbone, position))
SOURCE_BODY = 'backbone.0.body.'


class ConversionError(ValueError):
    """The source cannot be converted (wrong format, keys without counterpart, missing keys)."""


@dataclass
class ConversionReport:
    """Everything a converter's ``*_with_report`` function found out.

    Attributes:
        state_dict: converted tensors in target names.
        key_map: source key -> target key for every converted source key.
        unused: source keys with no counterpart (dropped), with a reason each.
        missing: target keys the source should have provided but did not.
        class_rows: source rows of the classifier used for the target rows; ``None`` if kept as they are.
        info: structure inferred from the source.
    """
    state_dict: 'OrderedDict[str, torch.Tensor]'
    key_map: Dict[str, str] = field(default_factory=dict)
    unused: Dict[str, str] = field(default_factory=dict)
    missing: List[str] = field(default_factory=list)
    class_rows: Optional[List[int]] = None
    info: dict = field(default_factory=dict)


class NoCounterpart(str):
    """A reason why a recognised source key has no place in the target model."""


def compile_rules(rules: Iterable[Tuple[str, Callable[['re.Match'], str]]]) -> List[KeyRule]:
    """Compiles ``(regex, target function)`` pairs; each regex must match a whole source key."""
    return [(re.compile(pattern), target) for pattern, target in rules]


def map_key(rules: Sequence[KeyRule], key: str) -> Optional[str]:
    """Target key of the first matching rule, a :class:`NoCounterpart` reason, or ``None`` (no rule)."""
    for pattern, target in rules:
        m = pattern.fullmatch(key)
        if m is not None:
            return target(m)
    return None


# torchvision ResNet names are mmdet ResNet names; the learned position embedding is ``backbone.1``
BACKBONE_RULES: List[KeyRule] = compile_rules([
    (re.escape(SOURCE_BODY) + r'(?P<rest>(?:conv1|bn1|layer[1-4]\.\d+\.(?:conv[1-3]|bn[1-3]|downsample\.[01]))'
     r'\.(?:weight|bias|running_mean|running_var|num_batches_tracked))',
     lambda m: f"backbone.{m['rest']}"),
    (re.escape(SOURCE_BODY) + r'fc\..*',
     lambda m: NoCounterpart('ImageNet classifier of the ResNet; not part of the detector')),
    (r'backbone\.1\..*',
     lambda m: NoCounterpart('learned positional embedding (--position_embedding learned); the mmdet '
                             'detectors only have the parameter-free sine encoding')),
])


def unwrap_state_dict(src: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    """The model state dict of ``src``: a state dict, or a checkpoint with ``'model'`` (official releases)
    or ``'state_dict'`` (mmengine); a ``module.`` prefix on every key (DDP) is stripped.

    Raises:
        ConversionError: ``src`` is not a mapping.
    """
    if not isinstance(src, Mapping):
        raise ConversionError(f'expected a state dict (mapping), got {type(src).__name__}')
    if isinstance(src.get('model'), Mapping):
        src = src['model']
    elif isinstance(src.get('state_dict'), Mapping):
        src = src['state_dict']
    keys = list(src.keys())
    if keys and all(isinstance(k, str) and k.startswith('module.') for k in keys):
        return OrderedDict((k[len('module.'):], v) for k, v in src.items())
    return OrderedDict(src)


def require_tensors(sd: Mapping) -> None:
    """Raises :class:`ConversionError` naming the entries of ``sd`` that are not tensors."""
    not_tensors = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise ConversionError(f'state dict values must be tensors; these are not: {not_tensors}')


def layer_count(keys: Sequence[str], prefix: str) -> int:
    """Number of numbered sub-modules ``prefix<i>.`` among ``keys`` (max index + 1)."""
    pattern = re.compile(re.escape(prefix) + r'(\d+)\.')
    found = [int(m.group(1)) for m in map(pattern.match, keys) if m]
    return max(found) + 1 if found else 0


def describe_resnet(sd: Mapping[str, torch.Tensor], body: str = SOURCE_BODY) -> dict:
    """Block type, blocks per stage and depth (``None`` if not a standard depth) of a ResNet under ``body``."""
    keys = list(sd.keys())
    blocks = tuple(layer_count(keys, f'{body}layer{stage}.') for stage in range(1, 5))
    block = 'Bottleneck' if f'{body}layer1.0.conv3.weight' in sd else 'BasicBlock'
    return dict(backbone_block=block, backbone_stage_blocks=blocks,
                backbone_depth=RESNET_DEPTHS.get((block, blocks)))


def resnet_target_keys(block: str, stage_blocks: Sequence[int], with_num_batches_tracked: bool) -> List[str]:
    """State-dict keys of an mmdet ``ResNet`` (prefix ``backbone.``) with the given layout."""
    bn = list(BN_PARAMS) + (['num_batches_tracked'] if with_num_batches_tracked else [])
    keys = ['backbone.conv1.weight'] + [f'backbone.bn1.{p}' for p in bn]
    n_convs = 3 if block == 'Bottleneck' else 2
    for stage, n_blocks in enumerate(stage_blocks, start=1):
        for b in range(n_blocks):
            prefix = f'backbone.layer{stage}.{b}.'
            for c in range(1, n_convs + 1):
                keys.append(f'{prefix}conv{c}.weight')
                keys += [f'{prefix}bn{c}.{p}' for p in bn]
            if b == 0 and (stage > 1 or n_convs == 3):
                keys.append(f'{prefix}downsample.0.weight')
                keys += [f'{prefix}downsample.1.{p}' for p in bn]
    return keys


def num_batches_tracked_key(src_key: str, target: str, src: Mapping) -> Optional[str]:
    """The ``num_batches_tracked`` target key to add for a backbone BN (FrozenBatchNorm2d has none), else
    ``None``."""
    if not (target.startswith('backbone.') and target.endswith('.running_var')):
        return None
    if src_key[:-len('running_var')] + 'num_batches_tracked' in src:
        return None
    return target[:-len('running_var')] + 'num_batches_tracked'


def class_rows(class_mapping: ClassMapping, num_rows: int) -> Optional[List[int]]:
    """Source class rows for target labels ``0..n-1``, or ``None`` to keep the rows.

    Args:
        class_mapping: ``'auto'`` (COCO-id rows -> mmdet's 80 labels when there are 91 rows, else keep),
            ``'coco'`` (require that), ``'none'`` (keep), or source row indices in target-label order.
        num_rows: number of (foreground) class rows of the source.

    Raises:
        ConversionError: a bad ``class_mapping``, or ``'coco'`` without 91 rows.
    """
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


def format_keys(items: Iterable) -> str:
    """One indented line per item."""
    return ''.join(f'\n  {item}' for item in items)


def enforce_report(unused: Mapping[str, str], missing: Sequence[str], target: str, allow_unused: bool,
                   allow_missing: bool) -> None:
    """Raises (or warns, where allowed) about the source keys a conversion dropped and the target keys it left
    without a value.

    Args:
        unused: source key -> why it has no counterpart.
        missing: target keys that got no value.
        target: the target model, for the messages (e.g. ``'mmdet ConditionalDETR'``).
        allow_unused: warn ``(dropped)`` instead of raising about ``unused``.
        allow_missing: warn instead of raising about ``missing``.

    Raises:
        ConversionError: unused keys (unless ``allow_unused``), missing keys (unless ``allow_missing``).
    """
    if unused:
        msg = (f'{len(unused)} source key(s) have no counterpart in {target}:'
               + format_keys(f'{k}: {why}' for k, why in unused.items()))
        if not allow_unused:
            raise ConversionError(msg + '\n(pass allow_unused=True / --allow-unused to drop them)')
        warnings.warn(msg + '\n(dropped)')
    if missing:
        msg = f'{len(missing)} key(s) of {target} got no value from the source:' + format_keys(missing)
        if not allow_missing:
            raise ConversionError(msg + '\n(pass allow_missing=True / --allow-missing to accept)')
        warnings.warn(msg)


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


# ---------------------------------------------------------------------------------------------------
# the parts the DETR-family releases (DETR, UP-DETR, Conditional DETR) name alike: a Joiner backbone,
# ``input_proj``, ``query_embed``, an nn.TransformerEncoder-like encoder, the decoder layers' FFN and norms,
# ``class_embed`` and the 3-layer ``bbox_embed`` MLP. Their mmdet names are those of mmdet's DETR /
# ConditionalDETR (ChannelMapper neck, DetrTransformerEncoder, DETRHead).

SRC_ENC = r'transformer\.encoder\.layers\.(?P<i>\d+)\.'
SRC_DEC = r'transformer\.decoder\.layers\.(?P<i>\d+)\.'

DETR_FAMILY_RULES: List[KeyRule] = BACKBONE_RULES + compile_rules([
    (r'input_proj\.' + PARAM, lambda m: f"neck.convs.0.conv.{m['p']}"),
    (r'query_embed\.weight', lambda m: 'query_embedding.weight'),
    # encoder: nn.MultiheadAttention (packed q/k/v) on both sides; mmcv wraps it as ``.attn``
    (SRC_ENC + r'self_attn\.(?P<w>in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)',
     lambda m: f"encoder.layers.{m['i']}.self_attn.attn.{m['w']}"),
    (SRC_ENC + r'linear1\.' + PARAM, lambda m: f"encoder.layers.{m['i']}.ffn.layers.0.0.{m['p']}"),
    (SRC_ENC + r'linear2\.' + PARAM, lambda m: f"encoder.layers.{m['i']}.ffn.layers.1.{m['p']}"),
    (SRC_ENC + r'norm(?P<n>[12])\.' + PARAM,
     lambda m: f"encoder.layers.{m['i']}.norms.{int(m['n']) - 1}.{m['p']}"),
    (r'transformer\.encoder\.norm\..*',
     lambda m: NoCounterpart('final encoder norm (only built with --pre_norm); mmdet '
                             'DetrTransformerEncoder has none')),
    # decoder layers: FFN and norms (the attention differs between the models)
    (SRC_DEC + r'linear1\.' + PARAM, lambda m: f"decoder.layers.{m['i']}.ffn.layers.0.0.{m['p']}"),
    (SRC_DEC + r'linear2\.' + PARAM, lambda m: f"decoder.layers.{m['i']}.ffn.layers.1.{m['p']}"),
    (SRC_DEC + r'norm(?P<n>[123])\.' + PARAM,
     lambda m: f"decoder.layers.{m['i']}.norms.{int(m['n']) - 1}.{m['p']}"),
    (r'transformer\.decoder\.norm\.' + PARAM, lambda m: f"decoder.post_norm.{m['p']}"),
    # head
    (r'class_embed\.' + PARAM, lambda m: f"bbox_head.fc_cls.{m['p']}"),
    (r'bbox_embed\.layers\.0\.' + PARAM, lambda m: f"bbox_head.reg_ffn.layers.0.0.{m['p']}"),
    (r'bbox_embed\.layers\.1\.' + PARAM, lambda m: f"bbox_head.reg_ffn.layers.1.{m['p']}"),
    (r'bbox_embed\.layers\.2\.' + PARAM, lambda m: f"bbox_head.fc_reg.{m['p']}"),
])


def describe_detr_family(sd: Mapping[str, torch.Tensor]) -> dict:
    """Structure of a DETR-family release state dict: hidden size, queries, classifier rows, layer counts,
    FFN width, ResNet layout, learned position embedding."""
    keys = list(sd.keys())
    query = sd['query_embed.weight']
    return dict(
        embed_dims=int(query.shape[1]),
        num_queries=int(query.shape[0]),
        num_classes=int(sd['class_embed.weight'].shape[0]),
        num_encoder_layers=layer_count(keys, 'transformer.encoder.layers.'),
        num_decoder_layers=layer_count(keys, 'transformer.decoder.layers.'),
        feedforward_channels=(int(sd['transformer.decoder.layers.0.linear1.weight'].shape[0])
                              if 'transformer.decoder.layers.0.linear1.weight' in sd else None),
        backbone_channels=int(sd['input_proj.weight'].shape[1]),
        **describe_resnet(sd),
        learned_position_embedding=any(k.startswith('backbone.1.') for k in keys),
    )


def detr_family_target_keys(info: dict, with_num_batches_tracked: bool) -> List[str]:
    """Target keys of :data:`DETR_FAMILY_RULES` for the structure ``info`` (:func:`describe_detr_family`)."""
    keys = resnet_target_keys(info['backbone_block'], info['backbone_stage_blocks'], with_num_batches_tracked)
    wb = ('weight', 'bias')
    keys += [f'neck.convs.0.conv.{p}' for p in wb] + ['query_embedding.weight']
    for i in range(info['num_encoder_layers']):
        pre = f'encoder.layers.{i}.'
        keys += [pre + 'self_attn.attn.in_proj_weight', pre + 'self_attn.attn.in_proj_bias']
        for mod in ('self_attn.attn.out_proj', 'ffn.layers.0.0', 'ffn.layers.1', 'norms.0', 'norms.1'):
            keys += [f'{pre}{mod}.{p}' for p in wb]
    for j in range(info['num_decoder_layers']):
        for mod in ('ffn.layers.0.0', 'ffn.layers.1', 'norms.0', 'norms.1', 'norms.2'):
            keys += [f'decoder.layers.{j}.{mod}.{p}' for p in wb]
    for mod in ('decoder.post_norm', 'bbox_head.fc_cls', 'bbox_head.reg_ffn.layers.0.0', 'bbox_head.reg_ffn.layers.1',
                'bbox_head.fc_reg'):
        keys += [f'{mod}.{p}' for p in wb]
    return keys


def apply_key_rules(sd: Mapping[str, torch.Tensor], rules: Sequence[KeyRule], report: 'ConversionReport',
                    rows: Optional[List[int]], add_num_batches_tracked: bool,
                    unused_reason: Callable[[str, Optional[str]], str]) -> None:
    """Maps every source key through ``rules`` into ``report.state_dict`` / ``report.key_map``.

    Args:
        sd: source state dict.
        rules: compiled key rules (:func:`compile_rules`).
        report: filled in place; keys without a target go to ``report.unused`` with
            ``unused_reason(key, target)`` (``target`` is None or a :class:`NoCounterpart`).
        rows: class rows to keep in ``bbox_head.fc_cls.*`` (None keeps all).
        add_num_batches_tracked: add a zero ``num_batches_tracked`` next to every backbone BN lacking one.

    Raises:
        ConversionError: two source keys map to the same target.
    """
    out = report.state_dict
    for key, value in sd.items():
        target = map_key(rules, key)
        if target is None or isinstance(target, NoCounterpart):
            report.unused[key] = unused_reason(key, target)
            continue
        if target in out:  # cannot happen with consistent rules; guards against future edits
            raise ConversionError(f'two source keys map to {target}')
        if rows is not None and target.startswith('bbox_head.fc_cls.'):
            value = value[rows]
        out[target] = value
        report.key_map[key] = target
        nbt = num_batches_tracked_key(key, target, sd) if add_num_batches_tracked else None
        if nbt is not None:
            out[nbt] = torch.tensor(0, dtype=torch.long)


def settle_expected_keys(report: 'ConversionReport', expected: Sequence[str], backbone_block: str) -> None:
    """Records the expected target keys the conversion left missing, and moves keys of the output that the
    inferred structure does not explain (e.g. a stray backbone block) from the output to ``report.unused``."""
    out = report.state_dict
    report.missing = [k for k in expected if k not in out]
    unexplained = set(out) - set(expected)
    for key, target in list(report.key_map.items()):
        if target in unexplained:
            report.unused[key] = f'outside the {backbone_block} ResNet layout inferred from the other backbone keys'
            del report.key_map[key]
    for target in unexplained:
        del out[target]


def build_target_state(config: str, cfg_options: Optional[dict] = None) -> Tuple[str, 'OrderedDict[str, torch.Tensor]']:
    """The model a converted checkpoint is meant for: built from ``config``, without pre-trained weights.

    Args:
        config: Path of the target config.
        cfg_options: ``--cfg-options`` overrides merged into the config first (e.g. the from-scratch backbone
            of ``scripts/scratch_backbone.txt``, so the check sees the layers the run will have).

    Returns:
        tuple: the model ``type`` and its ``state_dict()``.

    Raises:
        SystemExit: ``config`` does not exist.
    """
    from ..model_build import build_detector

    try:
        cfg, model = build_detector(config, cfg_options)
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from err
    return cfg.model['type'], model.state_dict()
