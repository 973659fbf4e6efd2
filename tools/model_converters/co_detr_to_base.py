"""Turn a Co-DETR checkpoint into a checkpoint of its base detector (DINO, Deformable DETR, Conditional DETR).

    python tools/model_converters/co_detr_to_base.py SRC DST --config BASE_CONFIG [--half]

Co-DETR's auxiliary heads only train; the result holds backbone, neck and the base detector (``query_head``)
under the base detector's own names, checked to load strictly into BASE_CONFIG's model, so it runs with the plain
base config (same predictions as Co-DETR's default ``eval_module='detr'``, the base detector's inference cost).
``--half`` stores float16 tensors (half the size; they load back into float32 models).
"""
import argparse
import os.path as osp

import torch
from mmengine.config import DictAction

from mmdet_detrx.utils.checkpoint_compat import safe_torch_load
from mmdet_detrx.utils.converters.co_detr import convert_co_detr_to_base
from mmdet_detrx.utils.converters.common import ConversionError, build_target_state


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='Co-DETR checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint path')
    parser.add_argument('--config', required=True, help='config of the base detector (e.g. a DINO config)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='overrides of the base config, as for tools/train.py')
    parser.add_argument('--half', action='store_true', help='store floating-point tensors as float16')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if not osp.isfile(args.src):
        raise SystemExit(f'source checkpoint not found: {args.src}')
    ckpt = safe_torch_load(args.src, map_location='cpu')
    target_type, target_sd = build_target_state(args.config, args.cfg_options)
    try:
        report = convert_co_detr_to_base(ckpt, target_sd, half=args.half)
    except ConversionError as err:
        raise SystemExit(f'{args.src} -> {args.config}: {err}') from err
    dst_dir = osp.dirname(osp.abspath(args.dst))
    if not osp.isdir(dst_dir):
        raise SystemExit(f'output directory does not exist: {dst_dir}')
    src_meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
    meta = dict(converted_from=osp.basename(args.src),
                converter='mmdet_detrx tools/model_converters/co_detr_to_base.py',
                target_config=osp.basename(args.config), target_type=target_type,
                source_epoch=src_meta.get('epoch'), source_iter=src_meta.get('iter'), half=args.half,
                dataset_meta=src_meta.get('dataset_meta'))
    torch.save(dict(state_dict=report.state_dict, meta=meta), args.dst)
    print(f'kept {len(report.state_dict)} tensors for {target_type}, dropped {len(report.unused)} training-only '
          f'tensors; wrote {args.dst} ({osp.getsize(args.dst) / 2**20:.1f} MiB)')


if __name__ == '__main__':
    main()
