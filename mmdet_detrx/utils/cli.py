"""Helpers for the train/test entry points: config lookup with clear errors, CPU-distributed set-up."""
import difflib
import os
import os.path as osp
from typing import List, Optional

import torch
from mmengine.config import Config

PACKAGE_DIR = osp.dirname(osp.dirname(osp.realpath(__file__)))
REPO_CONFIGS = osp.join(osp.dirname(PACKAGE_DIR), 'configs')


def _config_roots() -> List[str]:
    """Where our configs live: the repository (editable install) and the package's .mim copy."""
    roots = [REPO_CONFIGS, osp.join(PACKAGE_DIR, '.mim', 'configs')]
    return [r for r in roots if osp.isdir(r)]


def list_configs() -> List[str]:
    """All config files shipped with the plugin, as paths relative to their ``configs/`` folder."""
    found = set()
    for root in _config_roots():
        for dirpath, _, files in os.walk(root):
            if '_base_' in dirpath.split(os.sep):
                continue
            found.update(osp.relpath(osp.join(dirpath, f), root) for f in files if f.endswith('.py'))
    return sorted(found)


def resolve_config(path: str) -> str:
    """Returns an existing config path for ``path``.

    ``path`` may be a file path, or a name (``conditional-detr_r18_1xb2-12e_coco128.py`` or
    ``conditional_detr/conditional-detr_r18_1xb2-12e_coco128``) of one of our configs.

    Raises:
        FileNotFoundError: nothing matches; the message lists the closest config names.
    """
    if osp.isfile(path):
        return path
    name = path if path.endswith('.py') else path + '.py'
    candidates = list_configs()
    for root in _config_roots():
        for rel in candidates:
            if rel == name or rel == name.replace('configs/', '', 1) or osp.basename(rel) == osp.basename(name):
                full = osp.join(root, rel)
                if osp.isfile(full):
                    return full
    close = difflib.get_close_matches(osp.basename(name), [osp.basename(c) for c in candidates], n=3, cutoff=0.5)
    hint = f' Did you mean: {", ".join(close)}?' if close else ''
    raise FileNotFoundError(f'config not found: {path!r}.{hint} '
                            f'(`python tools/train.py --list` shows the {len(candidates)} configs)')


def load_config(config: str, cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                launcher: str = 'none') -> Config:
    """Loads a config the way the train/test entry points share.

    Args:
        config: path or name of one of our configs (see :func:`resolve_config`).
        cfg_options: ``--cfg-options`` overrides.
        work_dir: output folder; default ``./work_dirs/<config name>`` unless the config sets one.
        launcher: ``none``/``pytorch``/``slurm``/``mpi``.

    With ``DETRX_SMOKE=1`` the run is cut to seconds (:mod:`mmdet_detrx.utils.smoke`).
    """
    from .smoke import apply_smoke
    cfg = Config.fromfile(resolve_config(config))
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    apply_smoke(cfg)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def setup_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Makes ``--launcher pytorch`` work on machines without CUDA.

    mmengine 0.10.7 calls ``torch.cuda.set_device`` when it initialises the process group and wraps the
    model in DDP with ``device_ids=[LOCAL_RANK]``; both fail on CPU. Here the process group is initialised
    with gloo and DDP gets ``device_ids=None``. Nothing changes when CUDA is available.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                                world_size=int(os.environ['WORLD_SIZE']))
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper


def check_checkpoint(path: str) -> str:
    """Raises ``FileNotFoundError`` naming ``path`` if the checkpoint file does not exist."""
    if path and not path.startswith(('http://', 'https://', 's3://', 'torchvision://', 'open-mmlab://')) \
            and not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path!r}')
    return path
