"""Check a config's datasets before training: every unreadable image and every dropped annotation, at once.

    python tools/check_dataset.py CONFIG [--splits train val test] [--cfg-options k=v ...]

A missing or corrupt image otherwise stops a run only when the loader reaches it (possibly hours in), and
mmdet drops malformed COCO annotations without a word. For each split this builds the dataset(s) of the config's
dataloader (wrappers such as the METR multi-label-space or one-shot datasets are opened), decodes every image and
lists, per dataset: images that are missing or cannot be decoded, and COCO annotations dropped (unknown
category / image ids, width or height < 1, area <= 0, boxes outside the image). Exit status 1 when anything was
found, 0 when all is clean.
"""
import argparse
import copy
import os.path as osp
import sys
from typing import Iterator, List, Tuple

import mmcv
from mmengine.config import DictAction

import mmdet_detrx  # noqa: F401  (registers the datasets)
from mmdet.registry import DATASETS
from mmdet.utils import register_all_modules
from mmdet_detrx.datasets.checks import coco_annotation_problems, describe_problems, load_coco_json
from mmdet_detrx.utils.cli import load_config


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config path or name')
    parser.add_argument('--splits', nargs='+', default=['train', 'val', 'test'], choices=['train', 'val', 'test'])
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args(argv)


def leaf_datasets(cfg: dict) -> Iterator[dict]:
    """The innermost dataset configs of a (possibly wrapped) dataset config."""
    if isinstance(cfg.get('datasets'), (list, tuple)):
        for child in cfg['datasets']:
            yield from leaf_datasets(child)
    elif isinstance(cfg.get('dataset'), dict):
        yield from leaf_datasets(cfg['dataset'])
    else:
        yield cfg


def unreadable_images(dataset) -> List[Tuple[str, str]]:
    """(path, reason) of every image of ``dataset`` that is missing or cannot be decoded."""
    bad = []
    for i in range(len(dataset)):
        path = dataset.get_data_info(i)['img_path']
        if not osp.isfile(path):
            bad.append((path, 'missing file'))
            continue
        with open(path, 'rb') as f:
            data = f.read()
        try:
            img = mmcv.imfrombytes(data)
        except Exception as err:  # noqa: BLE001 - any decoder failure is what we report
            img, reason = None, f'not decodable ({err})'
        else:
            reason = 'not decodable'
        if img is None:
            bad.append((path, reason))
    return bad


def check_split(cfg, split: str) -> int:
    """Prints the problems of one split; returns how many were found."""
    loader = cfg.get(f'{split}_dataloader')
    if not loader:
        print(f'[{split}] no {split}_dataloader in the config')
        return 0
    found = 0
    for leaf in leaf_datasets(loader['dataset']):
        leaf = copy.deepcopy(leaf)
        leaf['pipeline'] = []
        dataset = DATASETS.build(leaf)
        name = f"{leaf['type']} {osp.join(leaf.get('data_root') or '', leaf.get('ann_file', ''))}"
        bad_images = unreadable_images(dataset)
        problems = {}
        if str(dataset.ann_file).endswith('.json'):
            problems = coco_annotation_problems(load_coco_json(dataset.ann_file))
        found += len(bad_images) + sum(len(v) for v in problems.values())
        status = 'ok' if not bad_images and not problems else 'PROBLEMS'
        print(f'[{split}] {name}: {len(dataset)} images, {status}')
        for path, reason in bad_images:
            print(f'  unreadable image: {path}: {reason}')
        if problems:
            print('  ' + describe_problems(dataset.ann_file, problems, limit=10))
    return found


def main(argv=None) -> int:
    args = parse_args(argv)
    register_all_modules(init_default_scope=True)
    cfg = load_config(args.config, args.cfg_options)
    found = sum(check_split(cfg, split) for split in args.splits)
    print(f'{found} problem(s) found' if found else 'all images readable, no annotation dropped')
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
