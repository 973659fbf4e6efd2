"""Export a DETR-family detector to ONNX (fixed input size, default-domain ops only) and verify it.

    python tools/deploy/export_onnx.py CONFIG CHECKPOINT --out model.onnx [--shape H W] [--opset 17]
        [--verify] [--image IMG ...] [--num-images 2] [--atol 1e-4] [--skip-nms] [--cfg-options k=v ...]
        [--allow-partial]

Supported: DETR (mmdet's DETR, our ModularDETR), Conditional DETR (CondDETR, mmdet's ConditionalDETR),
Deformable DETR / DINO, fine-tuned UP-DETR (a plain DETR / CondDETR config) and Co-DETR (DetrxCoDETR, e.g.
Co-DINO: its DETR branch, query_head with the backbone and neck). Anything else (two-stage RoI detectors, METR,
UP-DETR pre-training models that need query patches, mask heads) stops with an error naming the part.

The graph: input ``images`` (1, 3, H, W) float32, resized + normalised + zero-padded outside (see
mmdet_detrx/deploy/preprocess.py, which mirrors the config's test pipeline); outputs ``boxes`` (1, N, 4) xyxy
in input pixels, ``scores`` (1, N), ``labels`` (1, N) int64 -- the model's predict before rescaling to the
original image. ``--shape`` defaults to the test pipeline's Resize (short side, long side).

``--verify`` runs onnxruntime on real images (``--image`` or the first ``--num-images`` of the config's test
data) and compares boxes and scores index by index with PyTorch; exit 1 if a score differs by more than ``--atol``,
a box coordinate by more than ``--atol`` times the input's longer side (pixels), or a label differs. Exit 2 for
an unsupported model. The checkpoint must fit the model exactly (exit 3 with the
missing / unexpected / mis-shaped tensors listed) unless ``--allow-partial``.
"""
import argparse
import os.path as osp
import sys
from typing import Optional

from mmengine.config import DictAction

import mmdet_detrx  # noqa: F401  (registers the modules)
import mmdet_detrx.checkpoint_loading  # noqa: F401,E402  (safe loader for local checkpoints)
from mmdet.utils import register_all_modules
from mmdet_detrx.deploy.onnx_export import (DetrOnnxWrapper, UnsupportedModelError, default_shape,
                                            exportable_parts, export_onnx, find_images, graph_op_types,
                                            verify_onnx)
from mmdet_detrx.utils.cli import check_checkpoint
from mmdet_detrx.utils.model_build import build_detector
from mmdet_detrx.utils.strict_load import CheckpointMismatchError, load_model_weights


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), help='fixed input size')
    parser.add_argument('--opset', type=int, default=17)
    parser.add_argument('--verify', action='store_true', help='compare onnxruntime with PyTorch on real images')
    parser.add_argument('--image', nargs='+', help='images for --verify (default: the config\'s test data)')
    parser.add_argument('--num-images', type=int, default=2, help='test-data images for --verify')
    parser.add_argument('--atol', type=float, default=1e-4,
                        help='max abs diff of scores allowed by --verify; boxes: this times the input\'s longer side')
    parser.add_argument('--skip-nms', action='store_true',
                        help='export a Co-DETR head with test_cfg.nms without its NMS (apply it outside)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    parser.add_argument('--allow-partial', action='store_true',
                        help='export even if the checkpoint does not fit the model (missing/unexpected/mis-shaped '
                             'tensors are listed and left at their initialisation)')
    return parser.parse_args(argv)


def main(argv: Optional[list] = None) -> int:
    args = parse_args(argv)
    register_all_modules(init_default_scope=True)
    cfg, model = build_detector(args.config, args.cfg_options)  # the weights come from the checkpoint
    check_checkpoint(args.checkpoint)
    try:
        exportable_parts(model, skip_nms=args.skip_nms)
    except UnsupportedModelError as err:
        print(f'error: cannot export {args.config}: {err}', file=sys.stderr)
        return 2
    shape = tuple(args.shape) if args.shape else default_shape(cfg)
    wrapper = DetrOnnxWrapper(model, shape, skip_nms=args.skip_nms)
    try:
        load_model_weights(model, args.checkpoint, allow_partial=args.allow_partial)
    except CheckpointMismatchError as err:
        print(f'error: {err}', file=sys.stderr)
        return 3
    wrapper.eval()

    export_onnx(wrapper, args.out, opset=args.opset)
    ops = graph_op_types(args.out)
    print(f'wrote {args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB): input images (1, 3, {shape[0]}, {shape[1]}), '
          f'outputs boxes (1, {wrapper.max_per_img}, 4), scores, labels; opset {args.opset}, '
          f'{sum(ops.values())} nodes, op types: {", ".join(sorted(ops))}')
    if not args.verify:
        return 0
    images = args.image or find_images(cfg, args.num_images)
    ok = True
    for row in verify_onnx(model, args.out, images, shape, args.atol):
        ok &= row['ok']
        print(f'verify {osp.basename(row["image"])}: max abs diff boxes {row["boxes"]:.3g} scores '
              f'{row["scores"]:.3g}, label mismatches {int(row["labels"])}, tied scores reordered '
              f'{int(row["reordered"])}, detections matched {100 * row["matched"]:.1f}% '
              f'-> {"ok" if row["ok"] else "MISMATCH"}')
    if ok:
        print(f'verify passed (atol {args.atol:g})')
        return 0
    print(f'verify FAILED (atol {args.atol:g})', file=sys.stderr)
    return 1


if __name__ == '__main__':
    sys.exit(main())
