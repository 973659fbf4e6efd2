"""Draw what a METR model extracts from one image: its top-K categories (with image-level scores) and the boxes.

    python tools/analysis/draw_metr_categories.py CONFIG CHECKPOINT IMAGE --label-space NAME --out x.png
        [--score-thr 0.3] [--max-boxes 30] [--img-scale 512 384] [--cfg-options key=value ...]

Left panel: the image with the predicted boxes (score >= --score-thr, at most --max-boxes), labelled with
their category of the label space NAME and score. Right panel: the K categories selected for the image, best
first, with their sigmoid scores from the category extractor. Prints the categories and the number of boxes.
"""
import argparse
import os.path as osp
from typing import Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from mmengine.config import DictAction

import mmdet_detrx  # noqa: F401
import mmdet_detrx.checkpoint_loading  # noqa: F401  (safe loader for local checkpoints)
from mmdet_detrx.visualization.drawing import (BOX_COLORS, draw_boxes, plt, read_rgb, save_figure,
                                              show_image, top_instances)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    parser.add_argument('--label-space', required=True, help="label space of the image, e.g. 'coco128' or 'bccd'")
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--max-boxes', type=int, default=30)
    parser.add_argument('--img-scale', type=int, nargs=2, default=(512, 384), metavar=('W', 'H'),
                        help='resize bound (keep ratio) of the network input, as the configs test pipelines')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                        help='config overrides, key=value (e.g. the from-scratch backbone of the training run)')
    return parser.parse_args(argv)


def load_metr(config: str, checkpoint: str, device: str = 'cpu', cfg_options: Optional[dict] = None):
    """Builds the METR model of ``config`` (no pre-trained backbone download), loads ``checkpoint``, eval mode.

    Unlike mmdet's ``init_detector`` it does not build the test dataset (METR's class names come from the
    model's label spaces).
    """
    from mmdet_detrx.utils.cli import check_checkpoint
    from mmdet_detrx.utils.model_build import build_detector
    from mmdet_detrx.utils.strict_load import load_model_weights

    _, model = build_detector(config, cfg_options)
    if type(model).__name__ != 'METR':
        raise SystemExit(f'{config} is not a METR config (model type {type(model).__name__!r})')
    load_model_weights(model, check_checkpoint(checkpoint))
    return model.to(device).eval()


def run_metr(model, img_rgb: np.ndarray, label_space: str, img_scale: Tuple[int, int] = (512, 384),
             img_path: Optional[str] = None):
    """Runs METR on one RGB image tagged with ``label_space``; returns the predicted DetDataSample."""
    from mmdet.structures import DetDataSample

    if label_space not in model.label_space_names:
        raise SystemExit(f'unknown label space {label_space!r}; the model has {model.label_space_names}')
    bgr = np.ascontiguousarray(img_rgb[..., ::-1])  # the data preprocessor converts BGR -> RGB
    resized, scale = mmcv.imrescale(bgr, img_scale, return_scale=True)
    h, w = resized.shape[:2]
    sample = DetDataSample(metainfo=dict(img_path=img_path, ori_shape=img_rgb.shape[:2], img_shape=(h, w),
                                         scale_factor=(w / img_rgb.shape[1], h / img_rgb.shape[0]),
                                         label_space=label_space))
    inputs = torch.from_numpy(resized).permute(2, 0, 1).contiguous()
    with torch.no_grad():
        return model.test_step(dict(inputs=[inputs], data_samples=[sample]))[0]


def draw_metr_categories(config: str, checkpoint: str, image: str, label_space: str, out: str,
                         score_thr: float = 0.3, max_boxes: int = 30, img_scale: Sequence[int] = (512, 384),
                         device: str = 'cpu', cfg_options: Optional[dict] = None) -> dict:
    """Draws the figure (see the module docstring).

    Returns:
        dict: ``out`` (path), ``categories`` [(name, score)] best first, ``num_boxes`` drawn.
    """
    model = load_metr(config, checkpoint, device=device, cfg_options=cfg_options)
    img = read_rgb(image)
    result = run_metr(model, img, label_space, tuple(img_scale), img_path=image)
    names = model.class_names(label_space)
    cats = result.pred_categories
    categories = [(names[int(c)], float(s)) for c, s in zip(cats.labels, cats.scores)]
    inst = top_instances(result.pred_instances, score_thr, max_boxes)

    fig, (ax_img, ax_bar) = plt.subplots(1, 2, figsize=(10, 4.5), gridspec_kw=dict(width_ratios=[2, 1]))
    show_image(ax_img, img, title=f'{osp.basename(image)} [{label_space}]: {len(inst.scores)} boxes '
               f'(score >= {score_thr})')
    ax_img.set_xticks([])
    ax_img.set_yticks([])
    for i, label in enumerate(torch.unique(inst.labels).tolist()):
        keep = inst.labels == label
        texts = [f'{names[label]} {s:.2f}' for s in inst.scores[keep].tolist()]
        draw_boxes(ax_img, inst.bboxes[keep], BOX_COLORS[i % len(BOX_COLORS)], labels=texts)
    ys = np.arange(len(categories))
    ax_bar.barh(ys, [s for _, s in categories], color='#007aff')
    ax_bar.set_yticks(ys)
    ax_bar.set_yticklabels([n for n, _ in categories], fontsize=8)
    for y, (_, score) in zip(ys, categories):
        ax_bar.text(min(score, 0.85) + 0.01, y, f'{score:.2f}', va='center', fontsize=7)
    ax_bar.invert_yaxis()
    ax_bar.set_xlim(0, 1)
    ax_bar.set_xlabel('category score (sigmoid)')
    ax_bar.set_title(f'top-{len(categories)} extracted categories', fontsize=9)
    fig.tight_layout()
    save_figure(fig, out)
    return dict(out=out, categories=categories, num_boxes=len(inst.scores))


def main(argv=None):
    args = parse_args(argv)
    info = draw_metr_categories(args.config, args.checkpoint, args.image, args.label_space, args.out,
                                args.score_thr, args.max_boxes, args.img_scale, args.device, args.cfg_options)
    print('categories: ' + ', '.join(f'{n} {s:.3f}' for n, s in info['categories']))
    print(f"{info['out']}: {info['num_boxes']} boxes")


if __name__ == '__main__':
    main()
