"""One-shot detection demo: find the instances of whatever a query patch shows in a target image.

    python tools/one_shot_demo.py CONFIG CHECKPOINT --query patch.jpg --image target.jpg --out found.png \
        [--score-thr 0.3] [--max-boxes 20] [--device cpu]

CONFIG is a one-shot config (its ``test_dataloader.dataset`` is a ``OneShotEpisodeDataset``, e.g.
configs/up_detr/one-shot_up-conditional-detr_r18_1xb2-12e_coco128.py); the query image is used whole as the
query patch (crop it beforehand), resized and normalised as the config's episodes. Writes a PNG of the target
image with the found boxes (and their scores) and the query patch as an inset in the top-left corner; prints
the number of boxes drawn.
"""
import argparse
import os
import os.path as osp
from typing import Tuple

import cv2
import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate

import mmdet_detrx  # noqa: F401  (registers modules)
import mmdet_detrx.checkpoint_loading  # noqa: F401,E402  (safe loader for local checkpoints)
from mmdet_detrx.datasets.one_shot import DEFAULT_PATCH_PIPELINE
from mmdet_detrx.datasets.transforms.query_patches import QUERY_PATCHES_KEY, RandomQueryPatches
from mmdet_detrx.utils.cli import check_checkpoint, resolve_config

BOX_COLOUR = (60, 20, 220)  # BGR crimson
QUERY_COLOUR = (0, 200, 255)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--query', required=True, help='image of the query patch (used whole)')
    parser.add_argument('--image', required=True, help='target image')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--max-boxes', type=int, default=20, help='draw at most this many boxes (highest scores)')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def read_image(path: str, what: str) -> np.ndarray:
    """BGR uint8 image of ``path``; ``FileNotFoundError`` / ``OSError`` naming ``what`` and the path."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path!r}')
    img = mmcv.imread(path)
    if img is None:
        raise OSError(f'cannot read {what} {path!r}')
    return img


def episode_settings(cfg: Config) -> Tuple[list, int, list]:
    """(target pipeline without annotation loading, patch size, patch pipeline) of a one-shot config."""
    dataset = cfg.get('test_dataloader', {}) and cfg.test_dataloader.get('dataset')
    if not dataset or dataset.get('type') != 'OneShotEpisodeDataset':
        raise ValueError(f'{cfg.filename}: test_dataloader.dataset must be a OneShotEpisodeDataset (a one-shot '
                         f'config), got {dataset.get("type") if dataset else None!r}')
    pipeline = [t for t in dataset.dataset.pipeline if t['type'] not in ('LoadAnnotations', 'mmdet.LoadAnnotations')]
    return (pipeline, dataset.get('patch_size', 128),
            list(dataset.get('patch_pipeline', DEFAULT_PATCH_PIPELINE)))


def make_query_patch(query: np.ndarray, patch_size: int, patch_pipeline: list) -> np.ndarray:
    """The whole query image as an episode patch, (1, S, S, C) float32."""
    patcher = RandomQueryPatches(num_patches=1, patch_size=patch_size, patch_pipeline=patch_pipeline)
    return patcher.make_patch(query, 'query')[None].astype(np.float32)


def draw_result(img: np.ndarray, query: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Target image (BGR) with ``boxes`` (N, 4) xyxy + ``scores`` (N,) and the query inset."""
    canvas = img.copy()
    h, w = canvas.shape[:2]
    thick = max(1, round(min(h, w) / 200))
    for (x1, y1, x2, y2), score in zip(boxes.round().astype(int), scores):
        cv2.rectangle(canvas, (x1, y1), (x2, y2), BOX_COLOUR, thick)
        cv2.putText(canvas, f'{score:.2f}', (x1 + 2, max(y1 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thick, BOX_COLOUR, thick)
    side = max(16, min(h, w) // 4)
    qh, qw = query.shape[:2]
    scale = side / max(qh, qw)
    inset = mmcv.imresize(query, (max(1, round(qw * scale)), max(1, round(qh * scale))))
    ih, iw = inset.shape[:2]
    ih, iw = min(ih, h - 2), min(iw, w - 2)
    canvas[1:1 + ih, 1:1 + iw] = inset[:ih, :iw]
    cv2.rectangle(canvas, (0, 0), (iw + 1, ih + 1), QUERY_COLOUR, 1)
    return canvas


def one_shot_detect(config: str, checkpoint: str, query_path: str, image_path: str, device: str = 'cpu'):
    """Runs the one-shot model on (query, image). Returns (image BGR, query BGR, pred InstanceData)."""
    from mmdet.apis import init_detector

    from mmdet_detrx.utils.strict_load import load_model_weights

    config = resolve_config(config)
    check_checkpoint(checkpoint)
    query = read_image(query_path, 'query image')
    image = read_image(image_path, 'target image')
    cfg = Config.fromfile(config)
    pipeline, patch_size, patch_pipeline = episode_settings(cfg)
    model = init_detector(cfg, None, device=device)
    load_model_weights(model, checkpoint)
    model.eval()
    results = dict(img_path=image_path, img_id=0)
    results[QUERY_PATCHES_KEY] = make_query_patch(query, patch_size, patch_pipeline)
    packed = Compose(pipeline)(results)
    with torch.no_grad():
        pred = model.test_step(pseudo_collate([packed]))[0].pred_instances
    return image, query, pred.cpu()


def run_demo(config: str, checkpoint: str, query_path: str, image_path: str, out: str, score_thr: float = 0.3,
             max_boxes: int = 20, device: str = 'cpu') -> int:
    """Writes the PNG ``out``; returns the number of boxes drawn."""
    image, query, pred = one_shot_detect(config, checkpoint, query_path, image_path, device)
    scores = pred.scores.numpy()
    order = np.argsort(-scores)[:max_boxes]
    order = order[scores[order] >= score_thr]
    canvas = draw_result(image, query, pred.bboxes.numpy()[order], scores[order])
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    if not mmcv.imwrite(canvas, out):
        raise OSError(f'cannot write {out!r}')
    return len(order)


def main(argv=None):
    args = parse_args(argv)
    n = run_demo(args.config, args.checkpoint, args.query, args.image, args.out, args.score_thr, args.max_boxes,
                 args.device)
    print(f'{args.out}: {n} boxes')


if __name__ == '__main__':
    main()
