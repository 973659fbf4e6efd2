"""What METR's class-bound queries do, per category: do they reach the objects of their category, and do their
boxes follow the image?

    python tools/analysis/metr_query_report.py CONFIG CHECKPOINT [--split val|test] [--max-images N]
        [--out report.json] [--cfg-options key=value ...]

Runs the model on the config's validation (or test) images and, for every category of every label space,
reports from the last decoder layer:

* ``gts``, ``recall50``: ground-truth boxes of the category, and the share of them that at least one query
  bound to the category covers with IoU >= 0.5 (whatever the scores: can the category's queries reach its
  objects at all?). ``images_with_gt`` and ``images_bound_when_present``: images holding the category, and
  how many of those selected it (gave it queries).
* ``query_wh`` / ``gt_wh``: mean box width and height of the category's queries and of its gts (pixels of
  the original image, the frame of the test pipeline's gts); ``query_wh_image_std``: the spread over images
  of the per-image mean query box (about 0: the queries predict one size whatever the image).
* ``score_present`` / ``score_absent``: mean image-level category score of the extractor on images with
  and without the category.

Prints a table per label space; ``--out`` writes it as JSON (with config, checkpoint and split).
"""
import argparse
import copy
import json
import os.path as osp
import sys
from collections import defaultdict
from typing import Dict, Iterable, List, Optional

import torch
from mmengine.config import DictAction

import mmdet_detrx  # noqa: F401
import mmdet_detrx.checkpoint_loading  # noqa: F401  (safe loader for local checkpoints)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', choices=('val', 'test'), default='val', help="the config's val or test data")
    parser.add_argument('--max-images', type=int, default=None, help='stop after this many images')
    parser.add_argument('--out', help='JSON file to write')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None)
    return parser.parse_args(argv)


def category_query_stats(images: Iterable[dict]) -> Dict[str, Dict[int, dict]]:
    """Per label space and LOCAL category, the statistics of the module docstring.

    Args:
        images: Per image a dict with ``space`` (str), ``query_labels`` (Q, ) LOCAL category per query (-1
            unbound), ``boxes`` (Q, 4) xyxy query boxes in the frame of the gts, ``gt_labels`` (G, ),
            ``gt_bboxes`` (G, 4) xyxy, ``category_scores`` (N, ) image-level probabilities of the space's
            categories.

    Returns:
        dict: ``{space: {category: stats}}`` for every category with a gt or bound queries in some image;
        ``None`` where a statistic has no data (e.g. ``recall50`` without gts).
    """
    from mmdet.structures.bbox import bbox_overlaps

    acc: Dict[str, Dict[int, dict]] = defaultdict(lambda: defaultdict(lambda: dict(
        gts=0, hits=0, images_with_gt=0, images_bound_when_present=0, query_wh=[], gt_wh=[],
        present=[], absent=[])))
    for img in images:
        labels, boxes = img['query_labels'], img['boxes']
        gt_labels, gt_bboxes = img['gt_labels'], img['gt_bboxes']
        scores = img['category_scores']
        present = set(gt_labels.tolist())
        cats = set(labels[labels >= 0].tolist()) | present
        for c in range(len(scores)):
            (acc[img['space']][c]['present'] if c in present
             else acc[img['space']][c]['absent']).append(float(scores[c]))
        for c in sorted(cats):
            entry = acc[img['space']][c]
            bound = labels == c
            gts = gt_bboxes[gt_labels == c]
            if bound.any():
                entry['query_wh'].append((boxes[bound, 2:] - boxes[bound, :2]).mean(0))
            if len(gts):
                entry['gts'] += len(gts)
                entry['images_with_gt'] += 1
                entry['gt_wh'].append(gts[:, 2:] - gts[:, :2])
                if bound.any():
                    entry['images_bound_when_present'] += 1
                    entry['hits'] += int((bbox_overlaps(boxes[bound], gts).max(0).values >= 0.5).sum())
    return {space: {c: _finish(entry) for c, entry in sorted(per.items()) if entry['gts'] or entry['query_wh']}
            for space, per in acc.items()}


def _finish(entry: dict) -> dict:
    def mean(values: List[float]) -> Optional[float]:
        return round(sum(values) / len(values), 4) if values else None

    query_wh = torch.stack(entry['query_wh']) if entry['query_wh'] else None
    gt_wh = torch.cat(entry['gt_wh']) if entry['gt_wh'] else None
    return dict(
        gts=entry['gts'],
        recall50=round(entry['hits'] / entry['gts'], 4) if entry['gts'] else None,
        images_with_gt=entry['images_with_gt'],
        images_bound_when_present=entry['images_bound_when_present'],
        query_wh=None if query_wh is None else [round(v, 1) for v in query_wh.mean(0).tolist()],
        query_wh_image_std=(None if query_wh is None or len(query_wh) < 2 else
                            [round(v, 1) for v in query_wh.std(0).tolist()]),
        gt_wh=None if gt_wh is None else [round(v, 1) for v in gt_wh.mean(0).tolist()],
        score_present=mean(entry['present']),
        score_absent=mean(entry['absent']))


def run_images(model, dataloader, max_images: Optional[int] = None) -> Iterable[dict]:
    """The per-image inputs of :func:`category_query_stats` from METR's last decoder layer.

    Query boxes are clipped to the image and mapped to the original image as ``predict(rescale=True)`` does
    (:meth:`METRHead.boxes_in_image`); the gts are taken as the test pipeline gives them (mmdet's test pipelines
    load them unscaled, as the metrics use them).
    """
    from mmdet_detrx.models.detectors.metr import sample_label_space
    seen = 0
    for data in dataloader:
        data = model.data_preprocessor(data, False)
        samples = data['data_samples']
        with torch.no_grad():
            head_inputs = model.forward_transformer(model.extract_feat(data['inputs']), samples)
            _, coords = model.bbox_head(head_inputs['hidden_states'], head_inputs['references'])
        for i, sample in enumerate(samples):
            boxes = model.bbox_head.boxes_in_image(coords[-1, i], sample.metainfo, rescale=True)
            space = sample_label_space(sample, model.default_label_space)
            num_cats = len(model.class_names(space))
            yield dict(space=space, query_labels=head_inputs['query_labels'][i], boxes=boxes,
                       gt_labels=sample.gt_instances.labels, gt_bboxes=sample.gt_instances.bboxes.float(),
                       category_scores=head_inputs['category_scores'][i, :num_cats])
            seen += 1
            if max_images is not None and seen >= max_images:
                return


def report(config: str, checkpoint: str, split: str = 'val', max_images: Optional[int] = None,
           cfg_options: Optional[dict] = None) -> dict:
    """Builds the model and the ``split`` dataloader of ``config`` and returns the JSON-ready report."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmdet_detrx.utils.cli import resolve_config
    from mmdet_detrx.utils.smoke import apply_smoke
    from mmdet_detrx.visualization.drawing import load_detector
    model_type = Config.fromfile(resolve_config(config)).model.get('type')
    if model_type != 'METR':
        raise SystemExit(f'{config} is not a METR config (model type {model_type!r})')
    model = load_detector(config, checkpoint, cfg_options=cfg_options)
    cfg = copy.deepcopy(model.cfg)
    apply_smoke(cfg)  # DETRX_SMOKE=1 (the documented commands in the tests): 2 images per dataset
    loader_cfg = cfg.get(f'{split}_dataloader')
    if not loader_cfg:
        raise SystemExit(f'{config} has no {split}_dataloader')
    loader_cfg.update(num_workers=0, persistent_workers=False, batch_size=1)
    stats = category_query_stats(run_images(model, Runner.build_dataloader(loader_cfg), max_images))
    return dict(config=osp.basename(config), checkpoint=checkpoint, split=split,
                label_spaces={space: {model.class_names(space)[c]: s for c, s in per.items()}
                              for space, per in stats.items()})


def print_report(res: dict) -> None:
    cols = ('gts', 'recall50', 'images_with_gt', 'images_bound_when_present', 'query_wh', 'query_wh_image_std',
            'gt_wh', 'score_present', 'score_absent')
    for space, per in res['label_spaces'].items():
        print(f'\n{space} ({res["split"]}):\n| category | ' + ' | '.join(cols) + ' |')
        print('|---' * (len(cols) + 1) + '|')
        for name, s in per.items():
            print(f'| {name} | ' + ' | '.join(str(s[c]) for c in cols) + ' |')


def main(argv=None) -> None:
    args = parse_args(argv)
    res = report(args.config, args.checkpoint, args.split, args.max_images, args.cfg_options)
    print_report(res)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=1)
        print(f'wrote {args.out}', file=sys.stderr)


if __name__ == '__main__':
    main()
