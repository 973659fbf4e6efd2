"""Draw UP-DETR's random query patches of an image and, with a checkpoint, what each query group predicts.

    python tools/analysis/draw_query_patches.py CONFIG [CHECKPOINT] --image IMG --out x.png \
        [--seed 0] [--per-group 1] [--device cpu]

CONFIG is a UP-DETR pre-training config (its ``train_dataloader.dataset.pipeline`` contains
``RandomQueryPatches``). The image goes through that pipeline (seeded by ``--seed``); the PNG shows the image as
the model sees it (after the pipeline's resize) with patch ``g``'s box as a thick rectangle labelled ``P<g>``, one
colour per patch. With CHECKPOINT, the ``--per-group`` highest-scoring predicted boxes of the queries of group
``g`` are drawn as thin rectangles in the same colour, labelled ``<g>:<score>``. Prints the patch boxes and the
predictions.
"""
import argparse
import colorsys
import os
import os.path as osp
from typing import List, Optional, Tuple

import cv2
import mmcv
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate

import mmdet_detrx  # noqa: F401  (registers modules)
import mmdet_detrx.checkpoint_loading  # noqa: F401  (safe loader for local checkpoints)
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from mmdet_detrx.models.layers.up_detr_layers import query_group_ids
from mmdet_detrx.utils.cli import check_checkpoint, resolve_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint', nargs='?', default=None)
    parser.add_argument('--image', required=True)
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random patches')
    parser.add_argument('--per-group', type=int, default=1, help='predicted boxes drawn per query group')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def palette(n: int) -> List[Tuple[int, int, int]]:
    """``n`` well separated BGR colours."""
    colours = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb(i / max(n, 1), 0.9, 1.0)
        colours.append((int(b * 255), int(g * 255), int(r * 255)))
    return colours


def patch_pipeline_of(cfg: Config) -> list:
    """The training pipeline of a pre-training config; ``ValueError`` if it has no ``RandomQueryPatches``."""
    dataset = cfg.get('train_dataloader', {}) and cfg.train_dataloader.get('dataset')
    pipeline = list(dataset.get('pipeline', [])) if dataset else []
    if not any(t.get('type') in ('RandomQueryPatches', 'mmdet.RandomQueryPatches') for t in pipeline):
        raise ValueError(f'{cfg.filename}: train_dataloader.dataset.pipeline has no RandomQueryPatches; give a '
                         f'UP-DETR pre-training config (e.g. configs/up_detr/'
                         f'up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py)')
    return pipeline


@torch.no_grad()
def group_predictions(model, packed: dict, per_group: int = 1) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``per_group`` best predicted boxes of every query group of the last decoder layer.

    Args:
        model: a UP-DETR detector (``UPDETR`` / ``UPCondDETR``) in eval mode.
        packed (dict): one packed sample of the pre-training pipeline (``inputs`` (3, H, W), ``data_samples``).
        per_group (int): boxes kept per group.

    Returns:
        tuple: boxes (K, 4) xyxy in the pipeline's image pixels, scores (K,), group ids (K,).
    """
    data = model.data_preprocessor(pseudo_collate([packed]), False)
    inputs, samples = data['inputs'], data['data_samples']
    head_inputs = model.forward_transformer(model.extract_feat(inputs), samples)
    cls_scores, bbox_preds = model.bbox_head(**head_inputs)
    cls_scores, bbox_preds = cls_scores[-1, 0], bbox_preds[-1, 0]  # (Q, C), (Q, 4)
    if model.bbox_head.loss_cls.use_sigmoid:
        scores = cls_scores.sigmoid().max(-1)[0]
    else:
        scores = cls_scores.softmax(-1)[:, :-1].max(-1)[0]
    num_groups = samples[0].get('query_patches').size(0)
    groups = query_group_ids(model.num_queries, model.patch_encoder.num_patches, device=scores.device)
    groups = groups[groups < num_groups]
    img_h, img_w = samples[0].metainfo['img_shape']
    boxes = bbox_cxcywh_to_xyxy(bbox_preds) * bbox_preds.new_tensor([img_w, img_h, img_w, img_h])
    keep = []
    for g in range(num_groups):
        idx = (groups == g).nonzero(as_tuple=True)[0]
        keep.append(idx[scores[idx].argsort(descending=True)[:per_group]])
    keep = torch.cat(keep)
    return boxes[keep].cpu().numpy(), scores[keep].cpu().numpy(), groups[keep].cpu().numpy()


def draw(img: np.ndarray, patch_boxes: np.ndarray, pred: Optional[tuple] = None) -> np.ndarray:
    """``img`` (H, W, 3) BGR with the patch boxes (thick) and the group predictions (thin) in per-patch colours."""
    canvas = np.ascontiguousarray(img.copy())
    colours = palette(len(patch_boxes))
    thick = max(2, round(min(canvas.shape[:2]) / 150))
    for g, (x1, y1, x2, y2) in enumerate(patch_boxes.round().astype(int)):
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colours[g], thick)
        cv2.putText(canvas, f'P{g}', (x1 + 2, y1 + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colours[g], 1)
    if pred is not None:
        for (x1, y1, x2, y2), score, g in zip(pred[0].round().astype(int), pred[1], pred[2]):
            cv2.rectangle(canvas, (x1, y1), (x2, y2), colours[int(g)], 1)
            cv2.putText(canvas, f'{int(g)}:{score:.2f}', (x1 + 2, max(y2 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        colours[int(g)], 1)
    return canvas


def draw_query_patches(config: str, image: str, out: str, checkpoint: Optional[str] = None, seed: int = 0,
                       per_group: int = 1, device: str = 'cpu') -> dict:
    """Writes the PNG ``out``. Returns ``dict(patch_boxes=(P, 4), pred=(boxes, scores, groups) or None)``."""
    from mmdet_detrx.utils.model_build import build_detector
    from mmdet_detrx.utils.strict_load import load_model_weights

    if not osp.isfile(image):
        raise FileNotFoundError(f'image not found: {image!r}')
    cfg = Config.fromfile(resolve_config(config))
    pipeline = patch_pipeline_of(cfg)
    model = None
    if checkpoint is not None:
        check_checkpoint(checkpoint)
        _, model = build_detector(cfg)  # every weight comes from the checkpoint
        if not hasattr(model, 'patch_encoder'):
            raise ValueError(f'{config}: the model ({type(model).__name__}) is not a UP-DETR detector')
        load_model_weights(model, checkpoint)
        model.to(device).eval()
    np.random.seed(seed)
    packed = Compose(pipeline)(dict(img_path=image, img_id=0))
    if packed is None:
        raise ValueError(f'the pipeline of {config} skipped {image!r} (too small or unreadable)')
    img = packed['inputs'].permute(1, 2, 0).numpy().astype(np.uint8)  # BGR, as loaded
    patch_boxes = packed['data_samples'].gt_instances.bboxes.tensor.numpy()
    pred = group_predictions(model, packed, per_group) if model is not None else None
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    if not mmcv.imwrite(draw(img, patch_boxes, pred), out):
        raise OSError(f'cannot write {out!r}')
    return dict(patch_boxes=patch_boxes, pred=pred)


def main(argv=None):
    args = parse_args(argv)
    result = draw_query_patches(args.config, args.image, args.out, args.checkpoint, args.seed, args.per_group,
                                args.device)
    for g, box in enumerate(result['patch_boxes']):
        print(f'patch {g}: {np.round(box, 1).tolist()}')
    if result['pred'] is not None:
        for box, score, g in zip(*result['pred']):
            print(f'group {int(g)}: {np.round(box, 1).tolist()} score {score:.3f}')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
