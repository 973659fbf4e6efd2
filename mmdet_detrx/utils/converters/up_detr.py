"""UP-DETR checkpoints: pre-training -> fine-tuning initialisation, and the official dddzg/up-detr release.

**Transfer** (:func:`convert_up_detr_to_finetune`). A checkpoint of our UP-DETR pre-training (``UPDETR``,
``UPCondDETR``, ``UPDABDETR``, ``UPDeformableDETR``, ``UPDINO``; mmengine: ``{'state_dict': ..., 'meta': ...}``)
becomes the initialisation of its base detector (any number of classes; ``tools/model_converters/transfer.py``
also maps it into a Co-DETR over that base). The pretext-only parts are dropped::

    patch_encoder.*                 query-patch projection (patch2query); fine-tuning has no query patches
    bbox_head.feature_align.*       feature-reconstruction MLP
    bbox_head.fc_cls.*              the 1-class (object / patch) classifier; re-initialised for the dataset
    bbox_head.cls_branches.*        (the reference deletes ``class_embed`` before fine-tuning, too)
    dn_query_generator.*            DINO's label embedding of the one pretext class

Everything else (backbone, neck = ``input_proj``, encoder, decoder incl. Conditional DETR's
``ref_point_head`` / ``query_scale``, ``query_embedding``, box regression ``reg_ffn`` / ``fc_reg``) is kept
unchanged, under the same names. The sine positional encoding has no parameters. Loading the written file
with ``load_from`` leaves exactly ``bbox_head.fc_cls.*`` at its initialisation.

**Official release** (:func:`convert_official_up_detr`). Reference key layout (``i`` encoder layer, ``j``
decoder layer)::

    official (dddzg/up-detr, models/updetr.py + detr.py)  ours
    backbone.0.body.{conv1,bn1,layerN.M.*}                backbone.*          (FrozenBatchNorm2d -> BN, a zero
                                                                               num_batches_tracked is added)
    input_proj                                            neck.convs.0.conv
    query_embed.weight                                    query_embedding.weight
    transformer.encoder.layers.i.self_attn.*              encoder.layers.i.self_attn.attn.*  (packed in_proj)
    transformer.encoder.layers.i.linear1 / linear2        encoder.layers.i.ffn.layers.0.0 / ffn.layers.1
    transformer.encoder.layers.i.norm1 / norm2            encoder.layers.i.norms.0 / norms.1
    transformer.encoder.norm                              -- dropped (see below)
    transformer.decoder.layers.j.self_attn.*              decoder.layers.j.self_attn.attn.*
    transformer.decoder.layers.j.multihead_attn.*         decoder.layers.j.cross_attn.attn.*
    transformer.decoder.layers.j.linear1 / linear2        decoder.layers.j.ffn.layers.0.0 / ffn.layers.1
    transformer.decoder.layers.j.norm1 / norm2 / norm3    decoder.layers.j.norms.0 / 1 / 2
    transformer.decoder.norm                              decoder.post_norm
    class_embed                                           bbox_head.fc_cls   (rows selected, see below)
    bbox_embed.layers.0 / 1 / 2                           bbox_head.reg_ffn.layers.0.0 / reg_ffn.layers.1 /
                                                          bbox_head.fc_reg
    patch2query                                           patch_encoder.patch2query       (pre-training only)
    feature_align.layers.0 / 1                            bbox_head.feature_align.layers.0 / 1   (idem)

A pre-training checkpoint (it has ``patch2query``) converts to ``UPDETR`` + ``UPDETRHead(num_classes=1)``; a
fine-tuned one to ``ModularDETR`` + ``DETRHead`` (= mmdet ``DETR``). Every tensor is copied unchanged except
the classifier rows: the reference pre-trains with ``num_classes=2`` and label 1 for every patch, so of its
3 rows (unused 0, object 1, no-object 2) rows ``[1, 2]`` become our (object, background). A fine-tuned COCO
model has 92 rows (COCO category ids 0..90 + no-object); ``class_mapping='auto'`` maps them to mmdet's 80
labels + background as the Conditional DETR converter does; the no-object row always stays last.

**Functional mismatch (pre-norm).** The released models are trained with ``--pre_norm`` (LayerNorm before
attention / FFN, plus a final ``transformer.encoder.norm``); our encoder / decoder layers are post-norm
(mmdet DETR). The weights load strictly (same shapes), but the converted model does **not** compute the
official function: the outputs differ, the final encoder norm has no place (dropped, reported) and the
pre-trained weights are an initialisation for fine-tuning, not a drop-in model. For a post-norm
source (trained without ``--pre_norm``) the converted model computes the reference's outputs from backbone
features (tested). The converter flags this
(``info['pre_norm']``) whenever ``transformer.encoder.norm`` is present. Also not converted: a learned
position embedding (``backbone.1.*``), and the reference's query shuffle / patch masking are training-time
behaviour, not weights.
"""
import warnings
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Union

import torch

from .common import (DETR_FAMILY_RULES, PARAM, SRC_DEC, ClassMapping, ConversionError, ConversionReport, class_rows,
                     compile_rules, describe_detr_family, detr_family_target_keys, apply_key_rules, enforce_report,
                     require_tensors, settle_expected_keys, unwrap_state_dict)

# ---------------------------------------------------------------------------------------------------
# transfer: our pre-training checkpoint -> fine-tuning initialisation

# keys every UP-DETR pre-training state dict of ours has (UPDETR, UPCondDETR, UPDABDETR, UPDeformableDETR, UPDINO)
PRETRAIN_SIGNATURE_KEYS = ('patch_encoder.patch2query.weight', 'query_embedding.weight', 'neck.convs.0.conv.weight')
# the pretext classifier: one linear layer (DETR-style heads) or one per decoder layer (Deformable DETR, DINO)
PRETEXT_CLASSIFIERS = ('bbox_head.fc_cls.weight', 'bbox_head.cls_branches.0.weight')
# the pretext's label space (one class: query patch), by key prefix: re-initialised for the fine-tuning classes; the
# only keys a fine-tuning model of the same base may leave at its initialisation
LABEL_SPACE_PARTS = {
    'bbox_head.fc_cls.': 'pretext classifier (1 class: query patch); re-initialised for the fine-tuning classes',
    'bbox_head.cls_branches.': 'pretext classifiers (1 class: query patch); re-initialised for the fine-tuning classes',
    'dn_query_generator.': "DINO's denoising label embedding of the pretext's one class; re-initialised",
}
REINITIALISED_PREFIXES = tuple(LABEL_SPACE_PARTS)
# pretext-only parameters, by key prefix, with the reason they are not transferred
PRETEXT_ONLY = {
    'patch_encoder.': 'pretext only: query-patch projection (patch2query), fine-tuning has no query patches',
    'bbox_head.feature_align.': 'pretext only: feature-reconstruction MLP',
    **LABEL_SPACE_PARTS,
}
# the base detector of a pre-training state dict, by a key only that base has (checked in this order)
_BASE_BY_KEY = (('dn_query_generator.label_embedding.weight', 'DINO'), ('reference_points_fc.weight', 'DeformableDETR'),
                ('decoder.ref_point_head.layers.0.weight', 'CondDETR'))  # DAB-DETR: 4-d queries (anchors)


def _foreign_hint(keys: Sequence[str]) -> str:
    """What else the keys look like, for the error message."""
    if any(k.startswith(('query_head.', 'roi_head.', 'rpn_head.')) for k in keys):
        return ' (it looks like a Co-DETR / two-stage detector checkpoint)'
    if 'patch2query.weight' in keys:
        return (' (it looks like an official dddzg/up-detr checkpoint: convert it with '
                'tools/model_converters/up_detr_to_finetune.py --official)')
    if any(k.startswith('transformer.') for k in keys):
        return ' (it looks like an original (official-layout) DETR-family checkpoint)'
    if 'query_embedding.weight' in keys and 'bbox_head.fc_cls.weight' in keys:
        return (' (a DETR-family detector without the UP-DETR patch encoder: already fine-tuned or already '
                'converted?)')
    return ''


def _pretrain_source(src: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    sd = unwrap_state_dict(src)
    missing = [k for k in PRETRAIN_SIGNATURE_KEYS if k not in sd]
    if not any(k in sd for k in PRETEXT_CLASSIFIERS):
        missing.append(' or '.join(PRETEXT_CLASSIFIERS))
    if missing:
        raise ConversionError(f'not an UP-DETR pre-training checkpoint (UPDETR / UPCondDETR / UPDABDETR / '
                              f'UPDeformableDETR / UPDINO): missing keys {missing}{_foreign_hint(list(sd.keys()))}')
    require_tensors(sd)
    return sd


def convert_up_detr_to_finetune_with_report(src: Mapping) -> ConversionReport:
    """Keeps the transferable weights of an UP-DETR pre-training checkpoint (see the module docstring).

    Args:
        src: the checkpoint (``{'state_dict': ...}`` as mmengine saves it) or its state dict; a ``module.``
            prefix on every key is stripped.

    Returns:
        ConversionReport: ``state_dict`` with the kept tensors (unchanged, same names), ``key_map`` (identity
        for kept keys), ``unused`` (dropped key -> reason) and ``info`` (``base``: ``'ModularDETR'``,
        ``'CondDETR'``, ``'DABDETR'``, ``'DeformableDETR'`` or ``'DINO'``, ``num_queries``, ``embed_dims``,
        ``pretext_classes``).

    Raises:
        ConversionError: not an UP-DETR pre-training checkpoint (e.g. Co-DETR, a fine-tuned DETR, an official
            release, a random dict) or non-tensor values.
    """
    sd = _pretrain_source(src)
    classifier = next(sd[k] for k in PRETEXT_CLASSIFIERS if k in sd)
    info = dict(
        base='DABDETR' if sd['query_embedding.weight'].shape[-1] == 4 else next(
            (base for key, base in _BASE_BY_KEY if key in sd), 'ModularDETR'),
        num_queries=int(sd['query_embedding.weight'].shape[0]),
        embed_dims=int(sd['neck.convs.0.conv.weight'].shape[0]),
        pretext_classes=int(classifier.shape[0]),
    )
    report = ConversionReport(state_dict=OrderedDict(), info=info)
    for key, value in sd.items():
        reason = next((why for prefix, why in PRETEXT_ONLY.items() if key.startswith(prefix)), None)
        if reason is not None:
            report.unused[key] = reason
        else:
            report.state_dict[key] = value
            report.key_map[key] = key
    return report


def convert_up_detr_to_finetune(src: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    """The transferable weights of an UP-DETR pre-training checkpoint (the dropped keys are in the report of
    :func:`convert_up_detr_to_finetune_with_report`)."""
    return convert_up_detr_to_finetune_with_report(src).state_dict


# ---------------------------------------------------------------------------------------------------
# official dddzg/up-detr release -> UPDETR (pre-training) / ModularDETR (fine-tuned)

OFFICIAL_SIGNATURE_KEYS = (
    'query_embed.weight',
    'input_proj.weight',
    'class_embed.weight',
    'bbox_embed.layers.0.weight',
    'transformer.decoder.layers.0.multihead_attn.in_proj_weight',
)
# rows of the reference's pre-training classifier (num_classes=2, patches labelled 1, no-object last)
OFFICIAL_PRETRAIN_OBJECT_ROW = 1

_OFFICIAL_RULES = DETR_FAMILY_RULES + compile_rules([
    (SRC_DEC + r'self_attn\.(?P<w>in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)',
     lambda m: f"decoder.layers.{m['i']}.self_attn.attn.{m['w']}"),
    (SRC_DEC + r'multihead_attn\.(?P<w>in_proj_weight|in_proj_bias|out_proj\.weight|out_proj\.bias)',
     lambda m: f"decoder.layers.{m['i']}.cross_attn.attn.{m['w']}"),
    (r'patch2query\.' + PARAM, lambda m: f"patch_encoder.patch2query.{m['p']}"),
    (r'feature_align\.layers\.(?P<k>[01])\.' + PARAM, lambda m: f"bbox_head.feature_align.layers.{m['k']}.{m['p']}"),
])


def _official_source(src: Mapping) -> 'OrderedDict[str, torch.Tensor]':
    sd = unwrap_state_dict(src)
    missing = [k for k in OFFICIAL_SIGNATURE_KEYS if k not in sd]
    if missing:
        keys = list(sd.keys())
        hint = ''
        if any('ca_qpos_sine_proj' in k for k in keys):
            hint = ' (it looks like an official Conditional DETR checkpoint: use conditional_detr_to_mmdet.py)'
        elif any(k.startswith(('bbox_head.', 'decoder.layers.', 'query_embedding.')) for k in keys):
            hint = ' (it looks like an mmdet-layout checkpoint already)'
        else:
            hint = _foreign_hint(keys)
        raise ConversionError(f'not an official UP-DETR / DETR checkpoint: missing keys {missing}{hint}')
    require_tensors(sd)
    return sd


def _official_class_rows(class_mapping: ClassMapping, num_rows: int, pretraining: bool) -> Optional[List[int]]:
    """Source classifier rows for our rows (foreground labels, then background); ``None`` keeps them."""
    if pretraining and class_mapping == 'auto':
        if num_rows < 3:
            raise ConversionError(f'an official pre-training classifier has >= 3 rows (num_classes >= 2 + '
                                  f'no-object), class_embed has {num_rows}')
        return [OFFICIAL_PRETRAIN_OBJECT_ROW, num_rows - 1]
    rows = class_rows(class_mapping, num_rows - 1)
    return None if rows is None else rows + [num_rows - 1]


def _official_target_keys(info: dict, with_num_batches_tracked: bool) -> List[str]:
    keys = detr_family_target_keys(info, with_num_batches_tracked)
    for j in range(info['num_decoder_layers']):
        for attn in ('self_attn', 'cross_attn'):
            pre = f'decoder.layers.{j}.{attn}.attn.'
            keys += [pre + 'in_proj_weight', pre + 'in_proj_bias', pre + 'out_proj.weight', pre + 'out_proj.bias']
    if info['pretraining']:
        keys += [f'{mod}.{p}' for mod in ('patch_encoder.patch2query', 'bbox_head.feature_align.layers.0',
                                          'bbox_head.feature_align.layers.1') for p in ('weight', 'bias')]
    return keys


def describe_official_up_detr(src: Mapping) -> dict:
    """Structure of an official UP-DETR / DETR checkpoint (see :func:`describe_detr_family`) plus
    ``pretraining`` (has the query-patch branch), ``pre_norm`` (has the final encoder norm of ``--pre_norm``),
    ``patch_channels`` and ``target`` (the model type the result loads into)."""
    sd = _official_source(src)
    info = describe_detr_family(sd)
    pretraining = 'patch2query.weight' in sd
    info.update(pretraining=pretraining,
                pre_norm=any(k.startswith('transformer.encoder.norm.') for k in sd),
                patch_channels=int(sd['patch2query.weight'].shape[1]) if pretraining else None,
                target='UPDETR' if pretraining else 'ModularDETR')
    return info


def convert_official_up_detr_with_report(src: Mapping,
                                         class_mapping: ClassMapping = 'auto',
                                         add_num_batches_tracked: bool = True) -> ConversionReport:
    """Converts an official UP-DETR (or DETR) checkpoint and reports instead of raising on unused / missing keys.

    Args:
        src: the official checkpoint (``{'model': ...}``) or its state dict; ``module.`` prefixes are stripped.
        class_mapping: pre-training source: ``'auto'`` keeps rows ``[1, last]`` (object, no-object), ``'none'``
            all rows. Fine-tuned source: as the Conditional DETR converter for the foreground rows (``'auto'``
            maps 91 COCO-id rows to mmdet's 80 labels), the no-object row is appended last.
        add_num_batches_tracked: add a zero ``num_batches_tracked`` per backbone BN.

    Raises:
        ConversionError: not an official checkpoint, or a bad ``class_mapping``.
    """
    sd = _official_source(src)
    info = describe_official_up_detr(sd)
    rows = _official_class_rows(class_mapping, info['num_classes'], info['pretraining'])
    report = ConversionReport(state_dict=OrderedDict(), class_rows=rows, info=info)

    def unused_reason(key: str, target: Optional[str]) -> str:
        reason = str(target) if target is not None else f"no counterpart in our {info['target']}"
        if key.startswith('transformer.encoder.norm.'):
            reason += '; the official model is pre-norm, ours post-norm (outputs differ)'
        return reason

    apply_key_rules(sd, _OFFICIAL_RULES, report, rows, add_num_batches_tracked, unused_reason)
    settle_expected_keys(report, _official_target_keys(info, add_num_batches_tracked), info['backbone_block'])
    return report


def convert_official_up_detr(src: Mapping,
                             class_mapping: ClassMapping = 'auto',
                             allow_unused: Union[bool, Sequence[str]] = ('transformer.encoder.norm.weight',
                                                                         'transformer.encoder.norm.bias'),
                             allow_missing: bool = False,
                             add_num_batches_tracked: bool = True) -> 'OrderedDict[str, torch.Tensor]':
    """Official UP-DETR state dict -> our ``UPDETR`` (pre-training) or ``ModularDETR`` (fine-tuned) layout.

    Args:
        src: see :func:`convert_official_up_detr_with_report`.
        class_mapping: see :func:`convert_official_up_detr_with_report`.
        allow_unused: source keys that may be dropped silently, or ``True`` to drop any unused key with a
            warning. Default: only the pre-norm final encoder norm, the one intentional drop (a warning about
            the pre-norm mismatch is issued when it is present).
        allow_missing: warn instead of raising when target keys get no value.
        add_num_batches_tracked: see :func:`convert_official_up_detr_with_report`.

    Raises:
        ConversionError: not an official checkpoint; unexpected unused keys; missing target keys.
    """
    report = convert_official_up_detr_with_report(src, class_mapping, add_num_batches_tracked)
    if report.info['pre_norm']:
        warnings.warn('the official checkpoint was trained with --pre_norm; our transformer layers are post-norm, '
                      'so the converted model computes a different function (use it as a fine-tuning '
                      'initialisation)')
    unexpected: Dict[str, str] = report.unused
    if allow_unused is not True:
        allowed = set(allow_unused or ())
        unexpected = {k: why for k, why in report.unused.items() if k not in allowed}
    enforce_report(unexpected, report.missing, f"our {report.info['target']}", allow_unused is True,
                   allow_missing)
    return report.state_dict
