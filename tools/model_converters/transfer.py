"""Transfer a checkpoint into any target config: pre-training -> fine-tuning, base <-> Co-DETR.

    python tools/model_converters/transfer.py SRC DST --config TARGET_CONFIG [--allow-partial-transformer]

SRC: an UP-DETR or METR pre-training checkpoint, a Co-DETR checkpoint or any detector checkpoint of ours.
TARGET_CONFIG: the model that will load DST with ``load_from`` (a base detector or Co-DETR over one: the base
goes under ``query_head.``, backbone and neck stay at the top). The target is built (no pre-trained weights)
and decides what fits by name and shape. Printed: tensors loaded per module, the encoder / decoder fill, what
stays at its initialisation and why, what was dropped and why. Refused (exit 1, nothing written) when the
target's encoder or decoder would get nothing. See mmdet_detrx/utils/converters/transfer.py and
docs/composition.md.
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import DictAction

from mmdet_detrx.utils.checkpoint_compat import safe_torch_load
from mmdet_detrx.utils.converters.common import ConversionError
from mmdet_detrx.utils.converters.transfer import transfer


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='source checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint path (for load_from)')
    parser.add_argument('--config', required=True, help='config of the target model')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides of the target config, as for tools/train.py')
    parser.add_argument('--allow-partial-transformer', action='store_true',
                        help="write even if the target's encoder or decoder gets no tensor from SRC")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not osp.isfile(args.src):
        raise SystemExit(f'source checkpoint not found: {args.src}')
    dst_dir = osp.dirname(osp.abspath(args.dst))
    if not osp.isdir(dst_dir):
        raise SystemExit(f'output directory does not exist: {dst_dir}')
    from mmdet_detrx.utils.model_build import build_detector
    try:
        cfg, model = build_detector(args.config, args.cfg_options)
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from err
    target_type = cfg.model['type']
    base_type = cfg.model.get('query_head', {}).get('type') if target_type == 'DetrxCoDETR' else None
    ckpt = safe_torch_load(args.src, map_location='cpu')
    try:
        report = transfer(ckpt, target_type, model.state_dict(), base_type=base_type,
                          allow_partial_transformer=args.allow_partial_transformer)
    except ConversionError as err:
        print(f'{args.src} -> {args.config}: {err}', file=sys.stderr)
        raise SystemExit(1) from err
    print('\n'.join(report.summary()))
    meta = dict(converted_from=osp.basename(args.src), converter='mmdet_detrx tools/model_converters/transfer.py',
                source_kind=report.source_kind, target_config=osp.basename(args.config), target_type=target_type,
                base_type=base_type, dropped=sorted(report.dropped), left_at_init=sorted(report.left_at_init))
    torch.save(dict(state_dict=report.state_dict, meta=meta), args.dst)
    print(f'wrote {len(report.state_dict)} tensors to {args.dst} (for {target_type}'
          f'{" over " + base_type if base_type else ""})')


if __name__ == '__main__':
    main()
