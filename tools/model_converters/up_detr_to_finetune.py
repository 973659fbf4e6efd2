"""Turn an UP-DETR checkpoint into a fine-tuning initialisation (or convert an official dddzg/up-detr release).

    python tools/model_converters/up_detr_to_finetune.py SRC DST [--config CONFIG]
    python tools/model_converters/up_detr_to_finetune.py SRC DST --official [--class-mapping auto|coco|none]
        [--allow-unused] [--allow-missing] [--config CONFIG]

Default: SRC is a checkpoint of our UP-DETR pre-training (``UPDETR`` / ``UPCondDETR``, e.g.
``work_dirs/up-detr_r18_1xb4-20e_pretrain-coco128-bccd/epoch_20.pth``). DST gets only the transferable
weights (backbone, input projection, encoder, decoder, object queries, box regression) under the same names,
for ``load_from`` in a DETR (``ModularDETR``) / Conditional DETR (``CondDETR``) config; the dropped
pretext-only keys are listed. ``--config`` builds the fine-tuning model and refuses to write unless every
kept weight fits it and only the classifier is left to initialise.

``--official``: SRC is an official UP-DETR release (pre-training -> our ``UPDETR``, fine-tuned -> our
``ModularDETR``); ``--config`` then requires a strict load. The official models are pre-norm, ours
post-norm: see ``mmdet_detrx/utils/converters/up_detr.py``.
"""
import argparse
import os.path as osp
from typing import Optional

import torch
from mmengine.config import DictAction

from mmdet_detrx.utils.converters import (ConversionError, build_target_state, check_against_state_dict,
                                          convert_official_up_detr_with_report,
                                          convert_up_detr_to_finetune_with_report)
from mmdet_detrx.utils.converters.up_detr import REINITIALISED_PREFIXES


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='UP-DETR checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument('--official', action='store_true', help='SRC is an official dddzg/up-detr checkpoint')
    parser.add_argument('--class-mapping', choices=('auto', 'coco', 'none'), default='auto',
                        help="--official only: classifier rows, see the converter's docstring")
    parser.add_argument('--allow-unused', action='store_true',
                        help='--official only: drop any source key without counterpart (listed)')
    parser.add_argument('--allow-missing', action='store_true',
                        help='--official only: write even if some target keys get no value (listed)')
    parser.add_argument('--config', help='config whose model the result must load into (checked before writing)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides of --config, as for tools/train.py')
    return parser.parse_args(argv)


def load_source(path: str):
    """Loads SRC with the project's checkpoint policy (weights-only where possible)."""
    if not osp.isfile(path):
        raise SystemExit(f'source checkpoint not found: {path}')
    from mmdet_detrx.utils.checkpoint_compat import safe_torch_load
    return safe_torch_load(path, map_location='cpu')


def check_with_config(config: str, state_dict, strict: bool, cfg_options: Optional[dict] = None) -> None:
    """Raises SystemExit unless ``state_dict`` fits the model of ``config``: strictly, or (fine-tuning) with
    only the classifier left uninitialised."""
    diff = check_against_state_dict(state_dict, build_target_state(config, cfg_options)[1])
    if not strict:
        diff['missing'] = [k for k in diff['missing'] if not k.startswith(REINITIALISED_PREFIXES)]
    if any(diff.values()):
        parts = [f'{name}: {items}' for name, items in diff.items() if items]
        raise SystemExit(f'converted weights do not fit the model of {config}:\n  ' + '\n  '.join(parts))


def main(argv=None) -> None:
    args = parse_args(argv)
    ckpt = load_source(args.src)
    try:
        if args.official:
            report = convert_official_up_detr_with_report(ckpt, class_mapping=args.class_mapping)
        else:
            report = convert_up_detr_to_finetune_with_report(ckpt)
    except ConversionError as err:
        raise SystemExit(f'{args.src}: {err}') from err
    listing = '\n  '.join(f'{k}: {why}' for k, why in report.unused.items())
    if args.official:
        intentional = {k for k in report.unused if k.startswith('transformer.encoder.norm.')}
        if set(report.unused) - intentional and not args.allow_unused:
            raise SystemExit(f'{args.src}: source keys without counterpart:\n  {listing}\n'
                             '(pass --allow-unused to drop them)')
        if report.info['pre_norm']:
            print('NOTE: the official model is pre-norm, ours post-norm: the converted weights are an '
                  'initialisation, the outputs differ from the official model')
        if report.missing and not args.allow_missing:
            raise SystemExit(f'{args.src}: {len(report.missing)} target key(s) get no value:\n  '
                             + '\n  '.join(report.missing) + '\n(pass --allow-missing to write anyway)')
    print(f'dropped {len(report.unused)} key(s):\n  {listing}' if report.unused else 'dropped nothing')
    if args.config:
        check_with_config(args.config, report.state_dict, strict=args.official, cfg_options=args.cfg_options)
    dst_dir = osp.dirname(osp.abspath(args.dst))
    if not osp.isdir(dst_dir):
        raise SystemExit(f'output directory does not exist: {dst_dir}')
    meta = dict(converted_from=osp.basename(args.src),
                converter='mmdet_detrx tools/model_converters/up_detr_to_finetune.py',
                source_format='dddzg/up-detr' if args.official else 'mmdet_detrx UP-DETR pre-training',
                dropped=sorted(report.unused),
                model_info={k: list(v) if isinstance(v, tuple) else v for k, v in report.info.items()})
    torch.save(dict(state_dict=report.state_dict, meta=meta), args.dst)
    target = report.info.get('target') or report.info['base']
    print(f'wrote {len(report.state_dict)} tensors to {args.dst} (for {target})')


if __name__ == '__main__':
    main()
