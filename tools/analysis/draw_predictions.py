"""Draw a detector's predictions on images into PNG files.

    python tools/analysis/draw_predictions.py CONFIG CHECKPOINT IMAGE [IMAGE ...] --out-dir DIR [--score-thr 0.3]

Writes ``DIR/<image stem>_pred.png`` per image (ground truth is not drawn) and prints each path with the
number of boxes drawn.
"""
import argparse
import os
import os.path as osp

import mmdet_detrx  # noqa: F401
import mmdet_detrx.checkpoint_loading  # noqa: F401  (safe loader for local checkpoints)
from mmdet_detrx.visualization.drawing import load_detector, read_rgb, top_instances


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--max-boxes', type=int, default=30,
                        help='draw at most this many boxes (highest scores) per image')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--allow-partial', action='store_true',
                        help='draw even if the checkpoint does not fit the model (the mismatch is printed)')
    return parser.parse_args(argv)


def draw_predictions(config: str, checkpoint: str, images, out_dir: str, score_thr: float = 0.3,
                     max_boxes: int = 30, device: str = 'cpu', allow_partial: bool = False) -> list:
    """Runs the detector on ``images`` and writes one PNG per image. Returns [(path, n_boxes)]."""
    from mmdet.apis import inference_detector
    from mmdet.registry import VISUALIZERS

    model = load_detector(config, checkpoint, device=device, allow_partial=allow_partial)
    visualizer = VISUALIZERS.build(dict(type='DetLocalVisualizer', name=f'draw_{id(model)}'))
    visualizer.dataset_meta = model.dataset_meta
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for path in images:
        img = read_rgb(path)
        result = inference_detector(model, path)
        inst = top_instances(result.pred_instances, score_thr, max_boxes)
        result.pred_instances = inst
        out = osp.join(out_dir, osp.splitext(osp.basename(path))[0] + '_pred.png')
        visualizer.add_datasample('pred', img, result, draw_gt=False, show=False, pred_score_thr=0.0, out_file=out)
        written.append((out, len(inst.scores)))
    return written


def main(argv=None):
    args = parse_args(argv)
    for out, n in draw_predictions(args.config, args.checkpoint, args.images, args.out_dir, args.score_thr,
                                   args.max_boxes, args.device, args.allow_partial):
        print(f'{out}: {n} boxes')


if __name__ == '__main__':
    main()
