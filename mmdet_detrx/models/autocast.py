"""Float32 islands under autocast: loss and assignment code (matching costs with logs of small probabilities,
``index_put`` of IoU targets, loss reductions) is not safe in bf16 / fp16; callers cast their inputs with
:func:`to_float32` and run inside :func:`float32_scope`. Outside autocast both change nothing but the dtype."""
import contextlib
from typing import Any, Iterator, Optional

import torch
from torch import Tensor


def to_float32(obj: Any) -> Any:
    """Casts floating tensors (also inside lists, tuples and dicts) to float32; leaves the rest as is."""
    if isinstance(obj, Tensor):
        return obj.float() if obj.is_floating_point() else obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_float32(o) for o in obj)
    if isinstance(obj, dict):
        return {k: to_float32(v) for k, v in obj.items()}
    return obj


def _first_device_type(obj: Any) -> Optional[str]:
    if isinstance(obj, Tensor):
        return obj.device.type
    if isinstance(obj, (list, tuple)):
        for o in obj:
            found = _first_device_type(o)
            if found is not None:
                return found
    if isinstance(obj, dict):
        return _first_device_type(list(obj.values()))
    return None


@contextlib.contextmanager
def float32_scope(*tensors: Any) -> Iterator[None]:
    """Disables autocast on the device of ``tensors`` so that the code inside runs in float32.

    Matching costs (focal costs take logs of small probabilities), IoU targets written with ``index_put``
    and loss reductions are not safe in bf16/fp16; callers cast their inputs with :func:`to_float32` and
    run the loss inside this scope. Outside autocast it changes nothing.
    """
    device_type = _first_device_type(list(tensors)) or 'cpu'
    with torch.autocast(device_type=device_type, enabled=False):
        yield
