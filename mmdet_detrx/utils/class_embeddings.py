"""Class-name text embeddings for METR's class-specific queries: the file format and its loader.

A class-embedding file (written by ``tools/embed_classnames.py``) is a ``torch.save``-d dict:

- ``class_names`` (list[str]): N names, unique.
- ``embeddings`` (Tensor): (N, D) float32, row i embeds ``template.format(class_names[i])``.
- ``template`` (str): e.g. ``'a photo of a {}.'``.
- ``model`` (str): the text encoder that produced them, e.g. ``'all-MiniLM-L6-v2'``.
- ``normalized`` (bool): whether the rows have unit L2 norm.

It holds only lists, strings, bools and a tensor, so it loads with ``torch.load(..., weights_only=True)``.
"""
import difflib
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor

#: Keys every class-embedding file has.
CLASS_EMBEDDING_KEYS = ('class_names', 'embeddings', 'template', 'model', 'normalized')


def save_class_embeddings(path: str, class_names: Sequence[str], embeddings: Tensor, template: str, model: str,
                          normalized: bool) -> None:
    """Writes a class-embedding file (see the module docstring).

    Args:
        path: Output file, usually ``*.pt``.
        class_names: N unique names.
        embeddings: (N, D) embeddings, stored as float32.
        template: The prompt template, with one ``{}``.
        model: Name or path of the text encoder.
        normalized: Whether the rows have unit L2 norm.

    Raises:
        ValueError: names and rows disagree, or names repeat.
    """
    class_names = [str(n) for n in class_names]
    embeddings = torch.as_tensor(embeddings).detach().cpu().float().contiguous()
    _check_contents(class_names, embeddings, path)
    torch.save(
        dict(class_names=class_names, embeddings=embeddings, template=str(template), model=str(model),
             normalized=bool(normalized)), path)


def read_class_embedding_file(path: str) -> Dict[str, Union[List[str], Tensor, str, bool]]:
    """Reads and checks a whole class-embedding file.

    Args:
        path: The file.

    Returns:
        dict: The keys of :data:`CLASS_EMBEDDING_KEYS`; ``embeddings`` is (N, D) float32.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a class-embedding file or is inconsistent.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'class-embedding file {path!r} does not exist; write it with '
                                'tools/embed_classnames.py --classes-from CONFIG_OR_NAMES --out FILE')
    try:
        data = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # noqa: BLE001  (any unpickling error means: not our format)
        raise ValueError(f'{path!r} is not a readable class-embedding file ({type(err).__name__}: {err})') from err
    if not isinstance(data, dict):
        raise ValueError(f'{path!r} holds a {type(data).__name__}, expected a dict with keys {CLASS_EMBEDDING_KEYS}')
    missing = [k for k in CLASS_EMBEDDING_KEYS if k not in data]
    if missing:
        raise ValueError(f'{path!r} lacks the keys {missing} (a class-embedding file has {CLASS_EMBEDDING_KEYS})')
    names, embeddings = data['class_names'], data['embeddings']
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ValueError(f'{path!r}: class_names must be a list of str')
    if not isinstance(embeddings, Tensor) or not embeddings.is_floating_point():
        raise ValueError(f'{path!r}: embeddings must be a floating-point tensor')
    _check_contents(list(names), embeddings, path)
    data['class_names'] = list(names)
    data['embeddings'] = embeddings.float()
    return data


def load_class_embeddings(path: str, class_names: Sequence[str], dim: Optional[int] = None) -> Tensor:
    """Embeddings of ``class_names``, in that order, from a class-embedding file.

    The file may hold more classes than asked for (e.g. a union of label spaces); names match exactly.

    Args:
        path: The class-embedding file.
        class_names: The K dataset class names, e.g. ``dataset.metainfo['classes']``.
        dim: Expected embedding width D, or None to accept the file's.

    Returns:
        Tensor: (K, D) float32, row k embeds ``class_names[k]``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: a name is not in the file (all missing names are listed, with close matches), names repeat,
            the width is not ``dim``, or the file is malformed.
    """
    data = read_class_embedding_file(path)
    class_names = list(class_names)
    if len(class_names) == 0:
        raise ValueError('class_names is empty')
    repeated = sorted({n for n in class_names if class_names.count(n) > 1})
    if repeated:
        raise ValueError(f'class_names repeats {repeated}')
    row_of = {name: i for i, name in enumerate(data['class_names'])}
    missing = [n for n in class_names if n not in row_of]
    if missing:
        by_lower = {n.lower(): n for n in data['class_names']}
        hints = []
        for name in missing:
            close = difflib.get_close_matches(name.lower(), list(by_lower), n=1)
            hints.append(f'{name!r}' + (f' (did you mean {by_lower[close[0]]!r}?)' if close else ''))
        raise ValueError(f'{path!r} has no embedding for {len(missing)} of the {len(class_names)} classes: '
                         f'{", ".join(hints)}; it holds {data["class_names"]}. Regenerate it with '
                         'tools/embed_classnames.py')
    embeddings = data['embeddings']
    if dim is not None and embeddings.size(1) != dim:
        raise ValueError(f'{path!r} has {embeddings.size(1)}-dim embeddings (model {data["model"]!r}), expected '
                         f'{dim}')
    return embeddings[[row_of[n] for n in class_names]].clone()


def _check_contents(class_names: List[str], embeddings: Tensor, path: str) -> None:
    """Raises ValueError unless ``embeddings`` is (len(class_names), D) with D > 0 and the names are unique."""
    if embeddings.dim() != 2 or embeddings.size(0) != len(class_names) or embeddings.size(1) == 0:
        raise ValueError(f'{path!r}: embeddings must have shape ({len(class_names)}, D) for {len(class_names)} '
                         f'class names, got {tuple(embeddings.shape)}')
    repeated = sorted({n for n in class_names if class_names.count(n) > 1})
    if repeated:
        raise ValueError(f'{path!r}: class names repeat: {repeated}')
    if not bool(torch.isfinite(embeddings).all()):
        raise ValueError(f'{path!r}: embeddings contain NaN/inf')
