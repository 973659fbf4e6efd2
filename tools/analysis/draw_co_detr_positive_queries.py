"""Draw the customized positive queries of Co-DETR: per auxiliary head, the positive boxes that become
extra decoder queries, with the ground truth.

    python tools/analysis/draw_co_detr_positive_queries.py CONFIG [CHECKPOINT] IMAGE_OR_INDEX --out pos.png \\
        [--seed 0] [--cfg-options ...]

``IMAGE_OR_INDEX`` is an index into the config's training set, or the path (or file name) of one of its
images; the image is loaded with its ground truth and resized like the test pipeline (no random
augmentation). The tool runs the training forward (``model.loss`` in train mode, seeded by ``--seed``) on it
and records what the positive query generator packs for each auxiliary head (RoI heads first, then dense
heads, in the order of the ``aux{k}.`` losses). One panel per head shows the packed positive boxes (their
count is the number of extra queries of that head, after the ``max_queries`` subsampling), coloured by the
ground truth they are assigned to, and the ground-truth boxes (thick green).

Without ``CHECKPOINT`` the model is randomly initialised (backbone ``init_cfg=None``): ATSS / FCOS positives
depend on the anchors and the assignment only; RPN + RoI positives (proposals, plus the ground truth when
``add_gt_as_proposals``) do depend on the weights.
"""
import argparse
import copy
import os.path as osp
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

import mmdet_detrx  # noqa: F401
import mmdet_detrx.checkpoint_loading  # noqa: F401  (safe loader for local checkpoints)
from mmdet_detrx.visualization.drawing import (BOX_COLORS, GT_COLOR, draw_boxes, load_detector,
                                              panel_grid, save_figure, show_image)

from mmdet.structures.bbox import bbox_cxcywh_to_xyxy


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('inputs', nargs='+', metavar='[CHECKPOINT] IMAGE_OR_INDEX',
                        help='optional checkpoint, then a training-set index or image path')
    parser.add_argument('--out', required=True, help='output PNG file')
    parser.add_argument('--seed', type=int, default=0, help='seed of the RoI sampler and the query subsampling')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides, key=value')
    args = parser.parse_args(argv)
    if len(args.inputs) > 2:
        parser.error(f'expected [CHECKPOINT] IMAGE_OR_INDEX, got {len(args.inputs)} arguments: {args.inputs}')
    args.checkpoint = args.inputs[0] if len(args.inputs) == 2 else None
    args.image = args.inputs[-1]
    return args


def _deterministic_pipeline(cfg) -> List[dict]:
    """Loader + annotations + the test pipeline's resize + packing: the training input without augmentation."""
    train_pipeline = _base_dataset_cfg(cfg.train_dataloader.dataset).pipeline
    test_pipeline = _base_dataset_cfg(cfg.test_dataloader.dataset).pipeline
    resize = [copy.deepcopy(t) for t in test_pipeline if 'Resize' in t['type']][:1]
    return [copy.deepcopy(train_pipeline[0]), dict(type='LoadAnnotations', with_bbox=True), *resize,
            dict(type='PackDetInputs')]


def _base_dataset_cfg(dataset_cfg):
    """The innermost dataset config of wrappers (``dataset=``) and concatenations (first of ``datasets=``)."""
    while 'dataset' in dataset_cfg or 'datasets' in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset'] if 'dataset' in dataset_cfg else dataset_cfg['datasets'][0]
    return dataset_cfg


def load_training_sample(cfg, image_or_index: str) -> Tuple[Dict, int]:
    """One training image with its ground truth, packed as the data loader yields it.

    Args:
        cfg: the config.
        image_or_index: an index into the training set, or an image path / file name in it.

    Returns:
        The packed sample (``inputs`` (3, H, W) uint8 BGR, ``data_samples``) and its index.
    """
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset_cfg = copy.deepcopy(_base_dataset_cfg(cfg.train_dataloader.dataset))
    dataset_cfg.pipeline = _deterministic_pipeline(cfg)
    dataset = DATASETS.build(dataset_cfg)
    if image_or_index.lstrip('-').isdigit():
        index = int(image_or_index)
        if not 0 <= index < len(dataset):
            raise IndexError(f'index {index} out of range: the training set has {len(dataset)} images')
    else:
        paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
        wanted = osp.abspath(image_or_index)
        matches = [i for i, p in enumerate(paths) if osp.abspath(p) == wanted]
        if not matches:
            matches = [i for i, p in enumerate(paths) if osp.basename(p) == osp.basename(image_or_index)]
        if not matches:
            raise FileNotFoundError(
                f'image {image_or_index!r} is not in the training set ({len(dataset)} images, e.g. '
                f'{osp.basename(paths[0]) if paths else "none"}): its ground truth is needed; give a training '
                'image or an index')
        index = matches[0]
    return dataset[index], index


def _aux_head_names(model: nn.Module) -> List[str]:
    """``aux{k} <kind>`` per positive-producing head, in the order of the model's query groups."""
    def short(module):
        return type(module).__name__.replace('DetrxCo', '').replace('Head', '')

    names = [f'aux{k} RPN+{short(h)}' for k, h in enumerate(model.roi_head)]
    names += [f'aux{len(names) + k} {short(h)}' for k, h in enumerate(model.bbox_head)]
    return names


def record_positive_queries(model: nn.Module, data: Dict, seed: int = 0) -> List[Dict]:
    """Runs ``model.loss`` on a preprocessed batch and records every query group the generator packs.

    Returns:
        Per auxiliary head (call order): ``positives`` (per image InstanceData of the head) and ``group``
        (the packed :class:`~mmdet_detrx.models.layers.co_detr_layers.CoQueryGroup`).
    """
    generator = model.query_generator
    calls = []

    def recording_pack(positives, batch_img_metas, num_classes):
        group = type(generator).pack(generator, positives, batch_img_metas, num_classes)
        calls.append(dict(positives=positives, group=group))
        return group

    generator.pack = recording_pack
    try:
        torch.manual_seed(seed)
        with torch.no_grad():
            model.loss(data['inputs'], data['data_samples'])
    finally:
        del generator.pack
    return calls


def draw_co_detr_positive_queries(config: str, checkpoint: Optional[str], image_or_index: str, out: str,
                                  seed: int = 0, device: str = 'cpu', cfg_options: Optional[dict] = None) -> Dict:
    """Writes the positive-query figure of one training image to ``out``.

    Returns:
        dict: ``out``, ``index`` and ``img_path`` of the image, ``gt_bboxes`` (m, 4) in the resized image,
        ``heads``: per auxiliary head ``name``, ``num_positives`` (all positives the head assigned),
        ``num_queries`` (valid queries of the packed group), ``num_drawn`` and ``boxes`` (num_drawn, 4) the
        drawn xyxy boxes in the resized image.
    """
    from mmengine.dataset import pseudo_collate
    cfg_options = dict(cfg_options or {})
    if checkpoint is None:
        cfg_options.setdefault('model.backbone.init_cfg', None)
    model = load_detector(config, checkpoint, device=device, cfg_options=cfg_options)
    if checkpoint is None:
        torch.manual_seed(seed)
        model.init_weights()
    if getattr(model, 'query_generator', None) is None or not getattr(model, 'with_pos_queries', False):
        raise TypeError(f'{type(model).__name__} makes no positive queries: this tool needs a DetrxCoDETR with '
                        'auxiliary heads (roi_head / bbox_head) and with_pos_queries=True')
    model.train()  # the bases' pre_decoder returns the training-only head inputs (e.g. DINO's) in train mode
    sample, index = load_training_sample(model.cfg, image_or_index)
    data = model.data_preprocessor(pseudo_collate([sample]), training=True)
    calls = record_positive_queries(model, data, seed)
    names = _aux_head_names(model)
    if len(calls) != len(names):
        raise RuntimeError(f'expected one query group per auxiliary head ({names}), recorded {len(calls)}')

    data_sample = data['data_samples'][0]
    img = sample['inputs'].permute(1, 2, 0).numpy()[..., ::-1]  # BGR -> RGB, (H, W, 3) resized image
    img_h, img_w = data_sample.metainfo['img_shape'][:2]
    gt_bboxes = data_sample.gt_instances.bboxes
    gt_bboxes = (gt_bboxes.tensor if hasattr(gt_bboxes, 'tensor') else gt_bboxes).cpu()
    factor = torch.tensor([img_w, img_h, img_w, img_h], dtype=torch.float32)
    fig, axes = panel_grid(1, len(calls), panel_size=4.0, aspect=img.shape[0] / img.shape[1])
    heads = []
    for k, (name, call) in enumerate(zip(names, calls)):
        group = call['group']
        valid = group.valid[0].cpu()
        boxes = bbox_cxcywh_to_xyxy(group.boxes[0].cpu()[valid]) * factor
        targets = bbox_cxcywh_to_xyxy(group.bbox_targets[0].cpu()[valid]) * factor
        # colour each positive by the ground truth it is assigned to (the nearest gt box to its target)
        gt_idx = torch.cdist(targets, gt_bboxes.float(), p=1).argmin(1).tolist() if len(gt_bboxes) else []
        ax = axes[0, k]
        num_positives = len(call['positives'][0].labels)
        show_image(ax, np.ascontiguousarray(img),
                   f'{name}: {int(valid.sum())} positive queries ({num_positives} positives), '
                   f'{len(gt_bboxes)} gt')
        num_drawn = 0
        for j, box in enumerate(boxes):
            color = BOX_COLORS[gt_idx[j] % len(BOX_COLORS)]
            num_drawn += draw_boxes(ax, box, color, linewidth=0.8, alpha=0.8)
            ax.plot(float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2, 'o', color=color, markersize=2.5)
        draw_boxes(ax, gt_bboxes, GT_COLOR, linewidth=2.5)
        heads.append(dict(name=name, num_positives=num_positives, num_queries=int(valid.sum()), num_drawn=num_drawn,
                          boxes=boxes))
    save_figure(fig, out)
    return dict(out=out, index=index, img_path=data_sample.metainfo['img_path'], gt_bboxes=gt_bboxes, heads=heads)


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    res = draw_co_detr_positive_queries(args.config, args.checkpoint, args.image, args.out, args.seed, args.device,
                                        args.cfg_options)
    print(f'{res["out"]}: image {res["index"]} ({osp.basename(res["img_path"])}), {len(res["gt_bboxes"])} gt; '
          + '; '.join(f'{h["name"]}: {h["num_queries"]} positive queries of {h["num_positives"]} positives'
                      for h in res['heads']))
    return res


if __name__ == '__main__':
    main()
