"""One transfer path from any of our checkpoints into any target model (``tools/model_converters/transfer.py``).

Sources, recognised by their keys:

* UP-DETR pre-training (``UPDETR`` / ``UPCondDETR``): pretext-only parts dropped
  (:func:`~mmdet_detrx.utils.converters.up_detr.convert_up_detr_to_finetune_with_report`);
* METR pre-training: category extractor, class-name projections and binary classifier dropped, the rest renamed
  for the target's base detector (:func:`~mmdet_detrx.utils.converters.metr.convert_metr_to_finetune_with_report`);
* Co-DETR: the base detector it wraps (``query_head.*`` with the shared backbone and neck); the auxiliary heads,
  memory neck and query generator are dropped (they only train);
* any other detector checkpoint: taken as it is (base-detector names).

Targets: a base detector (names as the source's base), or Co-DETR over a base detector, whose base parameters live
under ``query_head.`` with backbone and neck at the top (:func:`co_detr_key`).

The result lists what loaded (per module), what stays at its initialisation and why, and what was dropped and why.
A transfer that would give the target's encoder or decoder nothing (under 10% of its parameters) is refused
(:class:`~mmdet_detrx.utils.converters.common.ConversionError`): the run would train, but from a random
transformer, not the pre-trained model the user asked for. Partial fills (METR's deformable attention has no
counterpart in Conditional DETR's dense attention) are reported as "encoder: k of n tensors loaded".
"""
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional

import torch

from .common import ConversionError, unwrap_state_dict

CO_QUERY_HEAD = 'query_head.'
SHARED = ('backbone.', 'neck.')
# Co-DETR modules that only exist for training (auxiliary heads and their inputs)
# below this fraction of its parameter elements, an encoder / decoder counts as not transferred (a few tensors whose
# shapes happen to agree, e.g. FFN biases of a model of another width, are not a transfer)
MIN_TRANSFORMER_FILL = 0.1


def is_co_detr_state(keys) -> bool:
    """Whether a state dict is Co-DETR's (its base lives under ``query_head.``)."""
    return any(k.startswith(CO_QUERY_HEAD) for k in keys)


def base_key(co_key: str) -> Optional[str]:
    """The base-detector name of a Co-DETR key; None for Co-DETR's training-only parts."""
    if co_key.startswith(SHARED):
        return co_key
    if co_key.startswith(CO_QUERY_HEAD):
        return co_key[len(CO_QUERY_HEAD):]
    return None


def co_detr_key(key: str) -> str:
    """The Co-DETR name of a base-detector key (backbone and neck are shared at the top level)."""
    return key if key.startswith(SHARED) else CO_QUERY_HEAD + key


def base_view(state: Mapping[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """A Co-DETR state dict in base-detector names (training-only parts left out); other dicts unchanged."""
    if not is_co_detr_state(state):
        return OrderedDict(state)
    out = OrderedDict()
    for key, value in state.items():
        new = base_key(key)
        if new is not None:
            out[new] = value
    return out


@dataclass
class TransferReport:
    """What :func:`transfer` did.

    Attributes:
        state_dict: Tensors for the target, in the target's names.
        source_kind: ``'up-detr'``, ``'metr'``, ``'co-detr'`` or ``'detector'``.
        dropped: Source key -> why it was not transferred.
        left_at_init: Target key -> why it keeps its initialisation.
        transformer_fill: ``'encoder'`` / ``'decoder'`` -> (tensors loaded, tensors in the target, fraction of the
            part's parameter elements loaded).
    """
    state_dict: 'OrderedDict[str, torch.Tensor]'
    source_kind: str
    dropped: Dict[str, str] = field(default_factory=dict)
    left_at_init: Dict[str, str] = field(default_factory=dict)
    transformer_fill: Dict[str, tuple] = field(default_factory=dict)

    def loaded_by_module(self) -> Dict[str, int]:
        """Number of loaded tensors per module (``query_head.decoder``, ``backbone``, ...)."""
        groups: Dict[str, int] = {}
        for key in self.state_dict:
            parts = key.split('.')
            depth = 2 if parts[0] in ('query_head', 'bbox_head') else 1
            group = '.'.join(parts[:depth])
            groups[group] = groups.get(group, 0) + 1
        return groups

    def summary(self) -> List[str]:
        """Printable lines: loaded per module, left at initialisation with reasons, dropped with reasons."""
        lines = [f'source: {self.source_kind} checkpoint']
        lines += [f'{part}: {filled} of {total} tensors loaded ({fraction:.0%} of its parameters)'
                  for part, (filled, total, fraction) in self.transformer_fill.items()]
        lines.append(f'loaded {len(self.state_dict)} tensors:')
        lines += [f'  {g}: {n}' for g, n in self.loaded_by_module().items()]
        lines.append(f'left at initialisation: {len(self.left_at_init)} tensors')
        lines += [f'  {k}: {why}' for k, why in self.left_at_init.items()]
        lines.append(f'dropped from the source: {len(self.dropped)} tensors')
        lines += [f'  {k}: {why}' for k, why in self.dropped.items()]
        return lines


def _source_in_base_names(sd: 'OrderedDict[str, torch.Tensor]', base_type: str,
                          base_target: Mapping[str, torch.Tensor]) -> tuple:
    """(kind, tensors in base-detector names, dropped source keys with reasons)."""
    from .metr import convert_metr_to_finetune_with_report
    from .up_detr import PRETRAIN_SIGNATURE_KEYS, convert_up_detr_to_finetune_with_report

    if any(k.startswith('category_extractor.') for k in sd):
        report = convert_metr_to_finetune_with_report(sd, base_type, base_target)
        return 'metr', report.state_dict, dict(report.unused)
    if all(k in sd for k in PRETRAIN_SIGNATURE_KEYS):
        report = convert_up_detr_to_finetune_with_report(sd)
        return 'up-detr', report.state_dict, dict(report.unused)
    if is_co_detr_state(sd):
        dropped = {k: 'Co-DETR training-only part (auxiliary head, memory neck or query generator)'
                   for k in sd if base_key(k) is None}
        return 'co-detr', base_view(sd), dropped
    return 'detector', OrderedDict(sd), {}


def _why_left(target_key: str, co_target: bool, source_kind: str) -> str:
    base = base_key(target_key) if co_target else target_key
    if base is None:
        return 'Co-DETR training-only part: trained from its initialisation'
    if any(part in base for part in ('fc_cls.', 'cls_branches.', 'class_embed.')):
        return "classifier of the target's label space"
    if base.startswith(('query_embedding.', 'dn_query_generator.')):
        return f'object queries of the target (not transferred from a {source_kind} checkpoint)'
    return f'not in the {source_kind} checkpoint (or another shape)'


def _transformer_fill(target_state: Mapping[str, torch.Tensor], loaded: Mapping[str, torch.Tensor],
                      co_target: bool) -> Dict[str, tuple]:
    """Per part: (tensors loaded, tensors, fraction of the part's parameter elements loaded)."""
    fill = {}
    for part in ('encoder', 'decoder'):
        prefix = (CO_QUERY_HEAD if co_target else '') + part + '.'
        keys = [k for k in target_state if k.startswith(prefix) and not k.endswith('num_batches_tracked')]
        numel = sum(target_state[k].numel() for k in keys)
        numel_loaded = sum(target_state[k].numel() for k in keys if k in loaded)
        fill[part] = (sum(k in loaded for k in keys), len(keys), numel_loaded / numel if numel else 1.0)
    return fill


def transfer(src: Mapping, target_type: str, target_state: Mapping[str, torch.Tensor],
             base_type: Optional[str] = None, allow_partial_transformer: bool = False) -> TransferReport:
    """Maps a checkpoint into the target model described by ``target_state``.

    Args:
        src: The source checkpoint (``state_dict`` / ``model`` wrappers accepted) or state dict.
        target_type: The target model's ``type`` (``'DetrxCoDETR'`` or a base detector).
        target_state: ``state_dict()`` of the built target model (decides what fits).
        base_type: For a Co-DETR target, the type of its ``query_head`` (the base detector).
        allow_partial_transformer: Return even if the target's encoder or decoder gets (almost) nothing.

    Returns:
        TransferReport: the tensors in target names (only those whose name and shape fit) and the report.

    Raises:
        ConversionError: not a state dict; or the target's encoder or decoder would get under
            :data:`MIN_TRANSFORMER_FILL` of its parameters from the source (the transformer silently left at its
            initialisation) and ``allow_partial_transformer`` is False.
    """
    sd = unwrap_state_dict(src)
    co_target = target_type == 'DetrxCoDETR' or is_co_detr_state(target_state)
    base_target = base_view(target_state) if co_target else OrderedDict(target_state)
    kind, tensors, dropped = _source_in_base_names(sd, base_type or target_type, base_target)

    out = OrderedDict()
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            dropped[key] = 'not a tensor'
            continue
        if key not in base_target:
            dropped[key] = 'no such parameter in the target model'
            continue
        if tuple(value.shape) != tuple(base_target[key].shape):
            dropped[key] = f'shape {tuple(value.shape)} != target {tuple(base_target[key].shape)}'
            continue
        out[co_detr_key(key) if co_target else key] = value
    left = {k: _why_left(k, co_target, kind) for k in target_state
            if k not in out and not k.endswith('num_batches_tracked')}
    report = TransferReport(state_dict=out, source_kind=kind, dropped=dropped, left_at_init=left)

    report.transformer_fill = _transformer_fill(target_state, out, co_target)
    empty = [part for part, (_, total, fraction) in report.transformer_fill.items()
             if total and fraction < MIN_TRANSFORMER_FILL]
    if empty and not allow_partial_transformer:
        shown = ', '.join(f'{part} {report.transformer_fill[part][2]:.0%}' for part in empty)
        raise ConversionError(
            f'the {kind} checkpoint gives nothing to the {" and ".join(empty)} of the {target_type} target '
            f'({shown} of the parameters would load): the transformer would be left at its initialisation. Is the '
            f'source a model of the same family and size (see docs/composition.md)? Its keys start with: '
            f'{sorted({k.split(".")[0] for k in sd})}')
    return report
