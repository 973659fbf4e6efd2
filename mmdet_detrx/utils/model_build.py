"""Building a detector from a config for tools that load their weights themselves (converters' checks,
pictures, export, benchmarks): one place that resolves the config, applies ``--cfg-options`` and drops the
pre-trained ``init_cfg``s (nothing is downloaded; the weights come from a checkpoint or do not matter).
"""
import copy
from typing import List, Optional, Tuple, Union

from mmengine.config import Config
from torch import nn


def pretrained_init_keys(node, prefix: str = 'model') -> List[str]:
    """Dotted keys of every ``init_cfg`` under ``node`` that loads a checkpoint (``type='Pretrained'`` or a
    ``checkpoint`` entry), e.g. ``['model.backbone.init_cfg']``; list items appear as ``.<index>``."""
    from .pretrained import iter_init_cfgs
    return [key for key, items in iter_init_cfgs(node, prefix)
            if any(i.get('type') == 'Pretrained' or 'checkpoint' in i for i in items)]


def strip_pretrained(cfg: Config) -> List[str]:
    """Sets every pretrained ``init_cfg`` of ``cfg.model`` to None; returns the keys it changed."""
    keys = pretrained_init_keys(cfg.model)
    if keys:
        cfg.merge_from_dict({k: None for k in keys})
    return keys


def build_detector(config: Union[str, Config], cfg_options: Optional[dict] = None,
                   pretrained: bool = False) -> Tuple[Config, nn.Module]:
    """The model of ``config`` without its pre-trained initialisation (load a checkpoint into it afterwards).

    Args:
        config: A config path or name of one of our configs (see :func:`~mmdet_detrx.utils.cli.resolve_config`),
            or a loaded config (copied, not changed).
        cfg_options: ``--cfg-options`` overrides, merged first.
        pretrained: Keep the pre-trained ``init_cfg``s (e.g. the offline ImageNet weights of the Lite0 configs), as
            training does. Defaults to False.

    Returns:
        tuple: the config as used and the built model (on the CPU, in train mode, ``init_weights`` applied).

    Raises:
        FileNotFoundError: no such config (the message lists close config names).
    """
    from mmengine.registry import init_default_scope

    import mmdet_detrx  # noqa: F401  (registers our modules)
    from mmdet.registry import MODELS
    from .cli import resolve_config

    cfg = copy.deepcopy(config) if isinstance(config, Config) else Config.fromfile(resolve_config(config))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if not pretrained:
        strip_pretrained(cfg)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    _init_weights_quietly(model)
    return cfg, model


def _init_weights_quietly(model: nn.Module) -> None:
    """``model.init_weights()`` without mmengine's per-parameter INFO dump on the console."""
    import logging

    from mmengine.logging import MMLogger

    # Some parameters are allocated uninitialised (e.g. mmdet's ``level_embed = nn.Parameter(torch.Tensor(...))``)
    # and only get values in ``init_weights``: without it they hold whatever memory was there, NaN included.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
