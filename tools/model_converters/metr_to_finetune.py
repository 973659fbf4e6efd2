"""Turn a METR pre-training checkpoint into a fine-tuning initialisation for DeformableDETR, DINO or CondDETR.

    python tools/model_converters/metr_to_finetune.py SRC DST --config TARGET_CONFIG [--keep-query-embedding]

SRC is a checkpoint of our ``METR`` (e.g. ``work_dirs/metr_r18_1xb2-12e_coco128-bccd/epoch_12.pth``).
TARGET_CONFIG's model (type ``DeformableDETR``, ``DINO`` or ``CondDETR``) is built (without pre-trained
weights) and decides what fits: backbone, neck, encoder, decoder, level embedding, reference points and box
branches are kept where names and shapes agree; METR's category extractor, class-name projections and binary
classifier are dropped. Every kept / dropped / left-at-initialisation tensor is printed. DST holds
``state_dict`` and ``meta`` for ``load_from`` (it loads non-strictly: the target's classifier stays new).
See ``mmdet_detrx/utils/converters/metr.py`` for the per-target rules.
"""
import argparse
import os.path as osp

import torch
from mmengine.config import DictAction

from mmdet_detrx.utils.converters.common import ConversionError, build_target_state
from mmdet_detrx.utils.converters.metr import convert_metr_to_finetune_with_report, summarize


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='METR checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument('--config', required=True,
                        help='fine-tuning config (a base detector: DeformableDETR, DINO, CondDETR, ModularDETR, '
                             'DABDETR; for Co-DETR targets use tools/model_converters/transfer.py)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides of the fine-tuning config, as for tools/train.py')
    parser.add_argument('--keep-query-embedding', action='store_true',
                        help="also transfer METR's learned query embedding where its shape fits")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not osp.isfile(args.src):
        raise SystemExit(f'source checkpoint not found: {args.src}')
    from mmdet_detrx.utils.checkpoint_compat import safe_torch_load
    ckpt = safe_torch_load(args.src, map_location='cpu')
    target_type, target_sd = build_target_state(args.config, args.cfg_options)
    try:
        report = convert_metr_to_finetune_with_report(ckpt, target_type, target_sd, args.keep_query_embedding)
    except ConversionError as err:
        raise SystemExit(f'{args.src}: {err}') from err
    print('\n'.join(summarize(report)))
    dst_dir = osp.dirname(osp.abspath(args.dst))
    if not osp.isdir(dst_dir):
        raise SystemExit(f'output directory does not exist: {dst_dir}')
    meta = dict(converted_from=osp.basename(args.src),
                converter='mmdet_detrx tools/model_converters/metr_to_finetune.py',
                target_config=osp.basename(args.config), target_type=target_type, dropped=sorted(report.unused),
                left_at_init=report.missing)
    torch.save(dict(state_dict=report.state_dict, meta=meta), args.dst)
    print(f'wrote {len(report.state_dict)} tensors to {args.dst} (for {target_type})')


if __name__ == '__main__':
    main()
