"""Convert an official Conditional DETR checkpoint (Atten4Vis/ConditionalDETR) to mmdet 3.x layout.

    python tools/model_converters/conditional_detr_to_mmdet.py SRC DST [--class-mapping auto|coco|none]
        [--allow-unused] [--allow-missing] [--config CONFIG] [--unsafe-load]

SRC is the official ``.pth`` (``{'model': state_dict, 'args': Namespace, ...}`` as written by its
``main.py``, or a bare state dict). DST receives ``{'state_dict': ..., 'meta': {...}}`` loadable with
``mmengine.runner.load_checkpoint`` into mmdet's ``ConditionalDETR`` (or our key-compatible detector).
``--config`` builds that config's model and refuses to write unless a strict load would succeed.

The key mapping and the class-row handling are documented in
``mmdet_detrx/utils/converters/conditional_detr.py``.
"""
import argparse
import os.path as osp
import pickle

import torch

from mmdet_detrx.utils.converters import (ConversionError, build_target_state, check_against_state_dict,
                                          convert_conditional_detr_with_report)

_ARG_TYPES = (str, int, float, bool, type(None))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official Conditional DETR checkpoint (.pth)')
    parser.add_argument('dst', help='output path of the mmdet-style checkpoint')
    parser.add_argument('--class-mapping', choices=('auto', 'coco', 'none'), default='auto',
                        help="'auto' (default): 91 COCO-id rows -> mmdet's 80 labels when the source has 91 "
                        "rows, else keep; 'coco': require that mapping; 'none': keep all rows")
    parser.add_argument('--allow-unused', action='store_true',
                        help='drop source keys without counterpart (listed) instead of failing')
    parser.add_argument('--allow-missing', action='store_true',
                        help='write even if some target keys get no value (listed)')
    parser.add_argument('--config', help='mmdet/mmdet_detrx config whose model the result must load into '
                        'strictly (keys and shapes are checked before writing)')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load SRC with weights_only=False if the safe loader refuses it (trusted files only)')
    return parser.parse_args(argv)


def load_source(path: str, unsafe: bool) -> dict:
    """Loads SRC with ``weights_only=True`` (``argparse.Namespace`` allowed for the official ``args``)."""
    if not osp.isfile(path):
        raise SystemExit(f'source checkpoint not found: {path}')
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        if not unsafe:
            raise SystemExit(f'{path}: cannot be loaded with weights_only=True ({str(err).splitlines()[0]}). '
                             'Re-run with --unsafe-load if you trust the file.') from err
        return torch.load(path, map_location='cpu', weights_only=False)


def source_args(ckpt) -> dict:
    """The official run's ``args`` as plain values (empty if the checkpoint has none)."""
    args = ckpt.get('args') if isinstance(ckpt, dict) else None
    if args is None:
        return {}
    items = vars(args) if isinstance(args, argparse.Namespace) else dict(args) if isinstance(args, dict) else {}
    out = {}
    for k, v in items.items():
        if isinstance(v, _ARG_TYPES) or (isinstance(v, (list, tuple)) and all(isinstance(x, _ARG_TYPES) for x in v)):
            out[k] = list(v) if isinstance(v, tuple) else v
    return out


def config_hint(info: dict, args: dict, num_classes: int) -> str:
    """What the mmdet config must say to match the converted weights."""
    lines = [f"  num_queries={info['num_queries']}, embed_dims={info['embed_dims']}, "
             f"encoder.num_layers={info['num_encoder_layers']}, decoder.num_layers={info['num_decoder_layers']}, "
             f"feedforward_channels={info['feedforward_channels']}, bbox_head.num_classes={num_classes}",
             f"  backbone: ResNet depth={info['backbone_depth']} ({info['backbone_block']}, stage blocks "
             f"{info['backbone_stage_blocks']}), neck ChannelMapper in_channels=[{info['backbone_channels']}]"]
    if 'nheads' in args:
        lines.append(f"  num_heads={args['nheads']} (self_attn_cfg / cross_attn_cfg / encoder self_attn_cfg)")
    else:
        lines.append('  num_heads: not recorded in the checkpoint (official default 8)')
    if args.get('dilation'):
        lines.append("  DC5 model: backbone type='TVDilatedResNet', strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2) "
                     '(torchvision dilation layout), as configs/conditional_detr/*dc5*.py')
    elif 'dilation' not in args:
        lines.append('  DC5 or not: not recorded in the checkpoint (weights are identical)')
    return '\n'.join(lines)


def check_with_config(config: str, state_dict) -> None:
    diff = check_against_state_dict(state_dict, build_target_state(config)[1])
    if any(diff.values()):
        parts = [f'{name}: {items}' for name, items in diff.items() if items]
        raise SystemExit(f'converted weights do not load strictly into the model of {config}:\n  '
                         + '\n  '.join(parts))


def main(argv=None) -> None:
    args = parse_args(argv)
    ckpt = load_source(args.src, args.unsafe_load)
    run_args = source_args(ckpt)
    try:
        report = convert_conditional_detr_with_report(ckpt, class_mapping=args.class_mapping)
    except ConversionError as err:
        raise SystemExit(f'{args.src}: {err}') from err
    if report.unused:
        listing = '\n  '.join(f'{k}: {why}' for k, why in report.unused.items())
        if not args.allow_unused:
            raise SystemExit(f'{args.src}: {len(report.unused)} source key(s) have no counterpart in mmdet '
                             f'ConditionalDETR:\n  {listing}\n(pass --allow-unused to drop them)')
        print(f'dropped {len(report.unused)} source key(s) without counterpart:\n  {listing}')
    if report.missing:
        listing = '\n  '.join(report.missing)
        if not args.allow_missing:
            raise SystemExit(f'{args.src}: {len(report.missing)} key(s) of mmdet ConditionalDETR get no value:\n'
                             f'  {listing}\n(pass --allow-missing to write anyway)')
        print(f'WARNING: {len(report.missing)} target key(s) left without value:\n  {listing}')
    if args.config:
        check_with_config(args.config, report.state_dict)

    num_classes = len(report.class_rows) if report.class_rows is not None else report.info['num_classes']
    meta = dict(
        converted_from=osp.basename(args.src),
        source_format='Atten4Vis/ConditionalDETR',
        converter='mmdet_detrx tools/model_converters/conditional_detr_to_mmdet.py',
        class_mapping='coco91_to_80' if report.class_rows is not None else 'none',
        num_classes=num_classes,
        model_info={k: list(v) if isinstance(v, tuple) else v for k, v in report.info.items()},
        source_args=run_args,
    )
    if isinstance(ckpt, dict) and isinstance(ckpt.get('epoch'), int):
        meta['source_epoch'] = ckpt['epoch']
    if report.class_rows is not None:
        try:
            from mmdet.datasets import CocoDataset
            meta['dataset_meta'] = dict(classes=list(CocoDataset.METAINFO['classes']))
        except ImportError:  # pragma: no cover - mmdet is a dependency of the package
            pass
    dst_dir = osp.dirname(osp.abspath(args.dst))
    if not osp.isdir(dst_dir):
        raise SystemExit(f'output directory does not exist: {dst_dir}')
    torch.save(dict(state_dict=report.state_dict, meta=meta), args.dst)
    print(f'wrote {len(report.state_dict)} tensors to {args.dst} (class rows: {meta["class_mapping"]})\n'
          f'mmdet config must match:\n{config_hint(report.info, run_args, num_classes)}')


if __name__ == '__main__':
    main()
