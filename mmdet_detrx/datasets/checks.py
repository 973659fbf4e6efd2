"""Input checks shared by our datasets: each failure names the problem and the path."""
import json
import os.path as osp
from typing import Any


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
