"""Checkpoint loading that works with mmengine 0.10.7 under torch >= 2.6 without ever running a pickle's code.

mmengine 0.10.7 calls ``torch.load(path, map_location=...)`` without ``weights_only``. Since torch 2.6 that
argument defaults to ``True`` and refuses any pickled object outside an allow-list, so mmengine's own checkpoints
(their ``message_hub`` holds ``HistoryBuffer`` objects, numpy scalars and arrays) fail with ``UnpicklingError`` on
``--resume`` and ``load_from``. Loading them with ``weights_only=False`` would unpickle anything, and a pickle is
code.

:func:`safe_torch_load` always loads with ``weights_only=True``, with exactly what mmengine writes added to torch's
allow-list: ``HistoryBuffer``, the numpy types of scalars and arrays, and ``getattr`` *restricted* to the public
attributes of ``HistoryBuffer`` (its pickled statistics methods; a free ``getattr`` would reach any module's
globals). Anything else (a pickled model object, a foreign class) is refused with an error that names the file and
the classes; a file you trust can be allowed with ``DETRX_TRUSTED_CHECKPOINTS=/path/a.pth:/path/b.pth`` (or
``all``), which loads it in full as mmengine did before torch 2.6. A missing file raises ``FileNotFoundError``, a
truncated or non-torch file an ``UnpicklingError``, both naming the path.

Nothing changes in mmengine until :func:`install_checkpoint_loader` is called: our tools call it, and configs ask
for it by importing :mod:`mmdet_detrx.checkpoint_loading` (``custom_imports``), as ours do. Importing
``mmdet_detrx`` alone changes no mmengine global. :func:`uninstall_checkpoint_loader` restores mmengine's loader.
"""
import os
import os.path as osp
import pickle
import zipfile
from typing import Any, Callable, List, Optional, Union

import numpy as np
import torch
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local

TRUSTED_ENV = 'DETRX_TRUSTED_CHECKPOINTS'
_ALLOWED: List[Any] = []


def _restricted_getattr(obj: Any, name: str, *default: Any) -> Any:
    """``getattr`` for unpickling mmengine checkpoints: only public attributes of ``HistoryBuffer``."""
    from mmengine.logging import HistoryBuffer
    if (obj is HistoryBuffer or isinstance(obj, HistoryBuffer)) and not name.startswith('_'):
        return getattr(obj, name, *default)
    raise pickle.UnpicklingError(f'refusing getattr({obj!r}, {name!r}) while unpickling a checkpoint')


def allowed_globals() -> List[Any]:
    """What mmengine's checkpoints pickle beyond torch's own allow-list (numpy scalars/arrays/dtypes,
    ``HistoryBuffer``, a restricted ``getattr``), in the form ``torch.serialization.safe_globals`` takes."""
    if _ALLOWED:
        return _ALLOWED
    from mmengine.logging import HistoryBuffer
    try:  # numpy 2.x
        from numpy._core.multiarray import _reconstruct, scalar  # type: ignore
        core = 'numpy._core.multiarray'
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore
        core = 'numpy.core.multiarray'
    dtype_classes = [type(np.dtype(t)) for t in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32,
                                                  np.int64, np.uint8, np.bool_)]
    _ALLOWED.extend([(scalar, f'{core}.scalar'), (_reconstruct, f'{core}._reconstruct'), np.ndarray, np.dtype,
                     *dtype_classes, HistoryBuffer, (_restricted_getattr, 'builtins.getattr')])
    return _ALLOWED


def _trusted(filename: str) -> bool:
    value = os.environ.get(TRUSTED_ENV, '')
    if value.strip() == 'all':
        return True
    return osp.realpath(filename) in {osp.realpath(p) for p in value.split(os.pathsep) if p}


def _unreadable(filename: str, err: BaseException) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f'{filename} is not a readable torch checkpoint (truncated, or not saved by '
                                  f'torch.save?): {err}')


def safe_torch_load(filename: str, map_location: Optional[Union[str, Callable, torch.device]] = None) -> Any:
    """Loads a local checkpoint without running foreign pickled code; see the module docstring for the policy.

    Args:
        filename: path to the checkpoint.
        map_location: as for :func:`torch.load`.

    Returns:
        The unpickled checkpoint (usually a dict with ``state_dict`` and ``meta``).

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        pickle.UnpicklingError: the file pickles objects outside the allow-list (the message names them and how
            to trust the file), or it is not a readable torch checkpoint (truncated, another format).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    try:
        with torch.serialization.safe_globals(allowed_globals()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if 'Weights only load failed' not in str(err):
            raise _unreadable(filename, err) from err
        refused = err
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise _unreadable(filename, err) from err
    if _trusted(filename):
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        names = sorted(set(torch.serialization.get_unsafe_globals_in_checkpoint(filename)))
    except Exception:  # noqa: BLE001 - legacy (non-zip) files cannot be inspected
        names = ['<not listed: legacy checkpoint format>']
    raise pickle.UnpicklingError(
        f'{filename}: refusing to unpickle {names}: a pickle can run code, and these are not what mmengine '
        f'checkpoints hold. If you trust the file, allow it with {TRUSTED_ENV}={filename} (several: separated by '
        f'"{os.pathsep}"; "all" trusts every file). torch said: {str(refused).splitlines()[0]}') from refused


def _load_from_local(filename: str, map_location=None) -> Any:
    return safe_torch_load(filename, map_location)


_installed = False


def install_checkpoint_loader() -> None:
    """Makes mmengine load local checkpoints with :func:`safe_torch_load` (``--resume``, ``load_from``,
    ``init_cfg`` checkpoints). Idempotent."""
    global _installed
    CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local, force=True)
    _installed = True


def uninstall_checkpoint_loader() -> None:
    """Restores mmengine's own local-file loader (``mmengine.runner.checkpoint.load_from_local``)."""
    global _installed
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)
    _installed = False


def checkpoint_loader_installed() -> bool:
    """Whether :func:`install_checkpoint_loader` is in effect (not undone by :func:`uninstall_checkpoint_loader`)."""
    return _installed
