"""Input checks shared by our datasets: each failure names the problem and the path."""
import json
import os.path as osp
from collections import defaultdict
from typing import Any, Dict, List


def require_dir(path: str, what: str) -> None:
    """Raises ``FileNotFoundError`` naming ``what`` and ``path`` if ``path`` is not a directory."""
    if not osp.isdir(path):
        raise FileNotFoundError(f'{what} not found: {path!r} (is the data root right? '
                                f'set it with --cfg-options or in the config)')


def require_file(path: str, what: str) -> None:
    """Raises ``FileNotFoundError`` if ``path`` is missing, ``ValueError`` if it is empty."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path!r}')
    if osp.getsize(path) == 0:
        raise ValueError(f'{what} is empty: {path!r}')


def load_coco_json(path: str) -> Any:
    """Reads a COCO-style annotation file and checks its top-level layout.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is empty, not JSON, lacks ``images``/``annotations``/``categories``,
            or lists no image.
    """
    require_file(path, 'annotation file')
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f'annotation file is not valid JSON: {path!r} ({err})') from err
    if not isinstance(data, dict):
        raise ValueError(f'annotation file {path!r} must hold a JSON object, got {type(data).__name__}')
    missing = [k for k in ('images', 'annotations', 'categories') if k not in data]
    if missing:
        raise ValueError(f'annotation file {path!r} lacks the COCO key(s) {missing}')
    if not data['images']:
        raise ValueError(f'annotation file {path!r} lists no image')
    return data


def coco_annotation_problems(data: dict) -> Dict[str, List[str]]:
    """Annotations of a COCO dict that mmdet's ``CocoDataset`` drops without a word, by reason.

    Reasons: ``unknown category_id`` (not in ``categories``), ``unknown image_id``, ``malformed bbox`` (not 4
    numbers), ``width or height < 1`` (negative or zero sizes included), ``area <= 0``, ``box outside the image``.
    ``iscrowd``/``ignore`` annotations are skipped on purpose and not listed.

    Returns:
        reason -> descriptions (``annotation id N in <file_name>``), only reasons that occur.
    """
    categories = {c['id'] for c in data.get('categories', [])}
    images = {img['id']: img for img in data.get('images', [])}
    found: Dict[str, List[str]] = defaultdict(list)
    for ann in data.get('annotations', []):
        if ann.get('ignore', False) or ann.get('iscrowd', 0):
            continue
        img = images.get(ann.get('image_id'))
        where = f"annotation id {ann.get('id')} in {img['file_name'] if img else ann.get('image_id')}"
        bbox = ann.get('bbox')
        if img is None:
            found['unknown image_id'].append(where)
        elif ann.get('category_id') not in categories:
            found['unknown category_id'].append(f"{where} (category_id {ann.get('category_id')})")
        elif not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            found['malformed bbox'].append(f'{where} (bbox {bbox!r})')
        else:
            x1, y1, w, h = bbox
            inter_w = max(0, min(x1 + w, img['width']) - max(x1, 0))
            inter_h = max(0, min(y1 + h, img['height']) - max(y1, 0))
            if w < 1 or h < 1:
                found['width or height < 1'].append(f'{where} (bbox {bbox})')
            elif ann.get('area', w * h) <= 0:
                found['area <= 0'].append(f"{where} (area {ann.get('area')})")
            elif inter_w * inter_h == 0:
                found['box outside the image'].append(f'{where} (bbox {bbox}, image {img["width"]}x{img["height"]})')
    return dict(found)


def describe_problems(source: str, problems: Dict[str, List[str]], limit: int = 3) -> str:
    """One message: ``<source>: N annotation(s) dropped: reason (count: first examples); ...``."""
    total = sum(len(v) for v in problems.values())
    parts = [f'{reason} ({len(items)}: {", ".join(items[:limit])}{", ..." if len(items) > limit else ""})'
             for reason, items in sorted(problems.items())]
    return f'{source}: {total} annotation(s) dropped: ' + '; '.join(parts)

