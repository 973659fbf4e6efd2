"""Loading a checkpoint into a model strictly, for the tools that evaluate, export, draw or benchmark a model:
a checkpoint that does not fit (another model, another class count) is an error that lists what does not fit,
never a silently half-random model. ``allow_partial=True`` (the tools' ``--allow-partial``) loads the tensors that
fit and prints the rest.
"""
from collections import OrderedDict
from typing import Dict, List, Optional

from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

from .converters.common import unwrap_state_dict


class CheckpointMismatchError(RuntimeError):
    """The checkpoint's tensors do not match the model's (missing, unexpected or mis-shaped keys)."""


def _shorten(keys: List[str], limit: int = 8) -> str:
    shown = ', '.join(keys[:limit])
    return f'{shown}, ... ({len(keys)} in all)' if len(keys) > limit else shown


def describe_mismatch(mismatch: Dict[str, list]) -> str:
    parts = []
    for name in ('missing', 'unexpected', 'shape_mismatch'):
        if mismatch[name]:
            items = [k if isinstance(k, str) else f'{k[0]} {k[1]} vs model {k[2]}' for k in mismatch[name]]
            parts.append(f'{len(items)} {name.replace("_", " ")}: {_shorten(items)}')
    return '; '.join(parts)


def load_model_weights(model: nn.Module, filename: str, allow_partial: bool = False, map_location: str = 'cpu',
                       log: Optional[callable] = print) -> dict:
    """Loads ``filename`` into ``model`` (mmengine's checkpoint schemes, so the safe local loader when installed).

    Args:
        model: The model (a wrapper's ``.module`` is used).
        filename: Checkpoint path or URL scheme.
        allow_partial: Load what fits and report the rest instead of raising.
        map_location: As ``torch.load``.
        log: Where the report of a partial load goes (None: nowhere).

    Returns:
        dict: the checkpoint (``meta`` etc.).

    Raises:
        CheckpointMismatchError: missing, unexpected or mis-shaped tensors and ``allow_partial`` is False; the
            message names the file, the model class and the keys.
    """
    model = getattr(model, 'module', model)
    checkpoint = CheckpointLoader.load_checkpoint(filename, map_location=map_location)
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                        for k, v in unwrap_state_dict(checkpoint).items())
    own = model.state_dict()
    mismatched = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state.items()
                  if k in own and tuple(v.shape) != tuple(own[k].shape)]
    for key, _, _ in mismatched:
        del state[key]
    result = model.load_state_dict(state, strict=False)  # load hooks (e.g. key conversions) apply
    mismatch = dict(missing=list(result.missing_keys), unexpected=list(result.unexpected_keys),
                    shape_mismatch=mismatched)
    if any(mismatch.values()):
        message = f'{filename} does not fit {type(model).__name__}: {describe_mismatch(mismatch)}'
        if not allow_partial:
            raise CheckpointMismatchError(message + ' (--allow-partial loads the tensors that fit anyway)')
        if log is not None:
            log(f'warning: partial load (--allow-partial): {message}')
    return checkpoint if isinstance(checkpoint, dict) else {}
