"""Checkpoint loading that works with mmengine 0.10.7 under torch >= 2.6.

mmengine 0.10.7 calls ``torch.load(path, map_location=...)`` without ``weights_only``. Since torch 2.6 that
argument defaults to ``True`` and refuses any pickled object outside an allow-list, so mmengine's own
checkpoints (their ``message_hub`` holds ``HistoryBuffer`` objects, numpy scalars and arrays) fail to load
with ``UnpicklingError`` on ``--resume`` and ``load_from``.

We replace mmengine's loader for local paths (the ``''`` scheme of ``CheckpointLoader``) with one that

1. loads with ``weights_only=True`` and an allow-list of numpy types (plain state dicts, mmdet model-zoo
   files, converted checkpoints);
2. otherwise lists the globals the file needs (``torch.serialization.get_unsafe_globals_in_checkpoint``):
   if they are only what mmengine itself writes (``HistoryBuffer``, numpy, ``getattr`` for HistoryBuffer's
   statistics methods), the file is loaded in full as mmengine intended before torch 2.6, silently;
   anything else is loaded in full with a warning that names the file and the globals, or refused with
   ``UnpicklingError`` when ``DETRX_CHECKPOINT_WEIGHTS_ONLY=1``;
3. a missing file raises ``FileNotFoundError`` naming the path.

``weights_only=True`` cannot load mmengine's format (it needs ``getattr``, which the allow-list must not
hold), so like mmengine itself this loader trusts the files it is pointed at.
"""
import os
import os.path as osp
import pickle
import warnings
from typing import Any, Callable, Optional, Union

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader

_SAFE_NUMPY = []
# Globals that mmengine's own checkpoints pickle (message hub history buffers, numpy values).
MMENGINE_GLOBAL_PREFIXES = ('mmengine.', 'numpy.', 'builtins.getattr', '__builtin__.getattr', 'collections.',
                            'torch.')


def _numpy_safe_globals() -> list:
    """Numpy globals that plain mmengine checkpoints pickle (scalars, arrays, dtypes)."""
    if _SAFE_NUMPY:
        return _SAFE_NUMPY
    try:  # numpy 2.x
        from numpy._core.multiarray import _reconstruct, scalar  # type: ignore
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore
    dtype_classes = [type(np.dtype(t)) for t in (np.float16, np.float32, np.float64, np.int8, np.int16,
                                                  np.int32, np.int64, np.uint8, np.bool_)]
    _SAFE_NUMPY.extend([scalar, _reconstruct, np.ndarray, np.dtype, *dtype_classes])
    return _SAFE_NUMPY


def safe_torch_load(filename: str, map_location: Optional[Union[str, Callable, torch.device]] = None) -> Any:
    """Loads a local checkpoint file, see the module docstring for the policy.

    Args:
        filename: path to the checkpoint.
        map_location: as for :func:`torch.load`.

    Returns:
        The unpickled checkpoint (usually a dict with ``state_dict`` and ``meta``).

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        pickle.UnpicklingError: the file cannot be loaded with ``weights_only=True`` and
            ``DETRX_CHECKPOINT_WEIGHTS_ONLY=1`` is set, or it is not a torch checkpoint at all.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if 'Weights only load failed' not in str(err):
            raise pickle.UnpicklingError(f'{filename} is not a readable torch checkpoint: {err}') from err
        safe_err = err
    try:
        needed = set(torch.serialization.get_unsafe_globals_in_checkpoint(filename))
    except Exception:  # noqa: BLE001 - legacy (non-zip) files cannot be inspected
        needed = {'<unknown: legacy checkpoint format>'}
    foreign = sorted(g for g in needed if not g.startswith(MMENGINE_GLOBAL_PREFIXES))
    if foreign:
        if os.environ.get('DETRX_CHECKPOINT_WEIGHTS_ONLY') == '1':
            raise pickle.UnpicklingError(
                f'{filename}: refusing to unpickle {foreign} (DETRX_CHECKPOINT_WEIGHTS_ONLY=1); unset it to '
                'load the file in full if you trust it') from safe_err
        warnings.warn(f'{filename}: checkpoint pickles {foreign}; loading it in full (weights_only=False) '
                      'as mmengine did before torch 2.6. Only load files you trust.')
    try:
        return torch.load(filename, map_location=map_location, weights_only=False)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as err:
        raise pickle.UnpicklingError(f'{filename} is not a readable torch checkpoint: {err}') from err


def _load_from_local(filename: str, map_location=None) -> Any:
    return safe_torch_load(filename, map_location)


# mmengine picks the loader by longest matching prefix; '' is the local-path scheme.
CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local, force=True)
