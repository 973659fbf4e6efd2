"""METR pre-training checkpoint -> fine-tuning initialisation of mmdet's ``DeformableDETR`` / ``DINO`` or our
``CondDETR``.

Kept (when the target has a tensor of the same name and shape): backbone, neck, encoder, decoder, level
(positional) embedding, reference points, box-regression branches. Dropped: the category extractor, the
queries' class-name projections and the binary per-query classifier (METR-only; the fine-tuning detector has
a class classifier of its own). The learned query embedding is dropped unless asked for (in METR it is only
half of a query, the other half being the category's text embedding).

Per target:

* ``DeformableDETR``: same module names; everything above transfers when the sizes agree.
* ``DINO``: same encoder / decoder layers / reg branches; DINO is two-stage, so METR's reference-point
  projection has no counterpart; DINO's extra encoder-proposal branch ``reg_branches.<L>`` and its
  query/denoising embeddings stay at their initialisation.
* ``CondDETR``, ``ModularDETR`` / ``DETR``, ``DABDETR``: a different decoder and a single-scale neck.
  Transferred: the backbone, the neck conv whose shape fits the single input projection, the encoder's FFNs and
  norms (its attention is dense, METR's deformable), the decoder layers' FFNs and norms, and the last box branch
  as ``reg_ffn`` / ``fc_reg`` (DAB-DETR: ``fc_reg.layers``).

Only torch is needed to import this module.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional

import torch

from .common import (ConversionError, ConversionReport, NoCounterpart, apply_key_rules, compile_rules, layer_count,
                     unwrap_state_dict, require_tensors)

METR_TARGETS = ('DeformableDETR', 'DINO', 'CondDETR', 'ModularDETR', 'DETR', 'DABDETR')
# single-scale targets with dense attention: what transfers is the same for all (see the module docstring)
DENSE_TARGETS = ('CondDETR', 'ModularDETR', 'DETR', 'DABDETR')

_DROPPED = [
    (r'category_extractor\..*', lambda m: NoCounterpart('METR category extractor (image-level class scores)')),
    (r'query_generator\.text_(?:proj|norm)\..*',
     lambda m: NoCounterpart("class-name projection of METR's class-specific queries")),
    (r'bbox_head\.cls_branches\..*',
     lambda m: NoCounterpart('binary per-query classifier of METR; the target trains its own class classifier')),
]


def _query_rule(keep_query_embedding: bool):
    target = 'query_embedding.weight'
    if keep_query_embedding:
        return (r'query_generator\.query_embedding\.weight', lambda m: target)
    return (r'query_generator\.query_embedding\.weight',
            lambda m: NoCounterpart('learned query embedding (half of a METR query; to keep it, convert with '
                                    'tools/model_converters/metr_to_finetune.py --keep-query-embedding)'))


def metr_rules(target_type: str, src: Mapping[str, torch.Tensor], target_sd: Mapping[str, torch.Tensor],
               keep_query_embedding: bool = False) -> list:
    """Compiled key rules from METR names to ``target_type`` names (see the module docstring)."""
    if target_type not in METR_TARGETS:
        raise ConversionError(f'target model type must be one of {METR_TARGETS}, got {target_type!r}')
    rules = list(_DROPPED) + [_query_rule(keep_query_embedding)]
    if target_type == 'DINO':
        rules.append((r'reference_points_fc\..*',
                      lambda m: NoCounterpart('reference-point projection; DINO takes its references from the '
                                              'encoder proposals (two-stage)')))
    if target_type in DENSE_TARGETS:
        num_dec = layer_count(list(src), 'decoder.layers.')
        neck_src = _matching_neck_conv(src, target_sd)
        if neck_src is not None:
            rules.append((re.escape(neck_src), lambda m: 'neck.convs.0.conv.weight'))
        last = num_dec - 1
        rules += [
            (r'neck\..*', lambda m: NoCounterpart('multi-scale neck part without a counterpart in the '
                                                  f'single-scale {target_type} neck')),
            (r'encoder\.layers\.\d+\.self_attn\..*',
             lambda m: NoCounterpart(f'deformable self-attention; the {target_type} encoder attention is dense')),
            (r'decoder\.layers\.\d+\.(?:self_attn|cross_attn)\..*',
             lambda m: NoCounterpart(f'Deformable-DETR decoder attention; {target_type} has dense attention')),
            (r'(?:level_embed|reference_points_fc\..*)',
             lambda m: NoCounterpart('multi-scale level embedding / reference points of Deformable DETR')),
            *_last_box_branch_rules(last, target_type),
            (r'bbox_head\.reg_branches\..*',
             lambda m: NoCounterpart(f'box branch of an earlier decoder layer ({target_type} has one shared '
                                     'branch)')),
        ]
    rules.append((r'(?P<k>.+)', lambda m: m['k']))  # same name in the target
    return compile_rules(rules)


def _last_box_branch_rules(last: int, target_type: str) -> list:
    """METR's last-layer box MLP (``reg_branches.<last>.{0,2,4}``, Linear-ReLU-Linear-ReLU-Linear) as the
    target's one box MLP: DETR / Conditional DETR name it ``reg_ffn`` + ``fc_reg``, DAB-DETR ``fc_reg.layers``."""
    if target_type == 'DABDETR':
        names = ('fc_reg.layers.0', 'fc_reg.layers.1', 'fc_reg.layers.2')
    else:
        names = ('reg_ffn.layers.0.0', 'reg_ffn.layers.1', 'fc_reg')
    return [(rf'bbox_head\.reg_branches\.{last}\.{index}\.(?P<p>weight|bias)',
             lambda m, name=name: f"bbox_head.{name}.{m['p']}") for index, name in zip((0, 2, 4), names)]


def _matching_neck_conv(src: Mapping[str, torch.Tensor], target_sd: Mapping[str, torch.Tensor]) -> Optional[str]:
    """The last METR neck conv weight whose shape equals the target's single input projection."""
    want = target_sd.get('neck.convs.0.conv.weight')
    if want is None:
        return None
    found = [k for k in src if re.fullmatch(r'neck\.(?:convs|extra_convs)\.\d+\.conv\.weight', k)
             and tuple(src[k].shape) == tuple(want.shape)]
    return found[-1] if found else None


def convert_metr_to_finetune_with_report(src: Mapping, target_type: str, target_sd: Mapping[str, torch.Tensor],
                                         keep_query_embedding: bool = False) -> ConversionReport:
    """Converts a METR state dict for the target model described by ``target_sd``.

    Args:
        src: METR checkpoint (``state_dict``/``model`` wrappers accepted) or state dict.
        target_type: one of :data:`METR_TARGETS`.
        target_sd: ``state_dict()`` of the built target model (decides which tensors fit).
        keep_query_embedding: Transfer METR's learned query embedding where it fits.

    Returns:
        ConversionReport: ``state_dict`` (kept tensors, target names), ``key_map``, ``unused`` (dropped source
        keys with reasons) and ``missing`` (target keys left at their initialisation).

    Raises:
        ConversionError: not a METR state dict, or an unknown target.
    """
    sd = unwrap_state_dict(src)
    require_tensors(sd)
    if not any(k.startswith('category_extractor.') for k in sd) or 'query_generator.query_embedding.weight' not in sd:
        raise ConversionError('source is not a METR checkpoint (no category_extractor.* / '
                              'query_generator.query_embedding.weight keys)')
    rules = metr_rules(target_type, sd, target_sd, keep_query_embedding)
    report = ConversionReport(state_dict=OrderedDict())
    apply_key_rules(sd, rules, report, rows=None, add_num_batches_tracked=False,
                    unused_reason=lambda key, target: str(target) if target else 'no rule')
    for src_key, target in list(report.key_map.items()):
        reason = None
        if target not in target_sd:
            reason = f'no {target!r} in the {target_type} model'
        elif tuple(target_sd[target].shape) != tuple(report.state_dict[target].shape):
            reason = (f'shape {tuple(report.state_dict[target].shape)} does not fit {target!r} '
                      f'{tuple(target_sd[target].shape)} of the {target_type} model')
        if reason is not None:
            report.unused[src_key] = reason
            del report.key_map[src_key]
            del report.state_dict[target]
    report.missing = [k for k in target_sd if k not in report.state_dict and not k.endswith('num_batches_tracked')]
    report.info = dict(target_type=target_type, kept=len(report.state_dict), dropped=len(report.unused))
    return report


def summarize(report: ConversionReport) -> List[str]:
    """Printable lines: kept (grouped by top-level module), dropped with reasons, left at initialisation."""
    lines = [f"kept {len(report.state_dict)} tensors:"]
    groups: Dict[str, int] = {}
    for target in report.state_dict:
        group = '.'.join(target.split('.')[:2]) if target.startswith(('bbox_head.', 'decoder.')) else \
            target.split('.')[0]
        groups[group] = groups.get(group, 0) + 1
    lines += [f'  {g}: {n}' for g, n in groups.items()]
    lines.append(f'dropped {len(report.unused)} source tensors:')
    lines += [f'  {k}: {v}' for k, v in report.unused.items()]
    lines.append(f'left at initialisation in the target: {len(report.missing)} tensors:')
    lines += [f'  {k}' for k in report.missing]
    return lines
