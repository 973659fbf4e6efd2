"""Smoke mode: ``DETRX_SMOKE=1`` cuts every run of the tools to seconds, so that the documented commands can be
run as written in the test suite (tests/test_docs) without changing a character of them.

What it changes (only when the variable is ``1``): training lasts 1 epoch (or 2 iterations), every dataset of the
train / val / test loaders keeps its first 2 samples (``indices``), loaders use no worker processes, logging every
iteration; benchmarks time 1 round without warm-up; tools/train.py links the last checkpoint under the name the
full run would give it (``epoch_<max_epochs>.pth``). Numbers from smoke runs mean nothing.
"""
import os
from typing import Any

SMOKE_ENV = 'DETRX_SMOKE'
SMOKE_SAMPLES = 2


def smoke_enabled() -> bool:
    """True when ``DETRX_SMOKE=1``."""
    return os.environ.get(SMOKE_ENV) == '1'


def shrink_datasets(dataset: Any) -> None:
    """Sets ``indices`` on the innermost datasets (wrappers: ``dataset`` / ``datasets`` entries)."""
    if not isinstance(dataset, dict):
        return
    if isinstance(dataset.get('datasets'), (list, tuple)):
        for child in dataset['datasets']:
            shrink_datasets(child)
    elif isinstance(dataset.get('dataset'), dict):
        shrink_datasets(dataset['dataset'])
    else:
        dataset['indices'] = SMOKE_SAMPLES


def apply_smoke(cfg) -> None:
    """Cuts ``cfg`` (an mmengine Config, changed in place) down to a seconds-long run when smoke mode is on."""
    if not smoke_enabled():
        return
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_epochs' in train_cfg:
        cfg['smoke_full_max_epochs'] = train_cfg['max_epochs']
        train_cfg['max_epochs'] = 1
        train_cfg['val_interval'] = 1
    elif 'max_iters' in train_cfg:
        train_cfg['max_iters'] = 2
        train_cfg['val_interval'] = 2
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name)
        if isinstance(loader, dict):
            shrink_datasets(loader.get('dataset'))
            loader['num_workers'] = 0
            loader['persistent_workers'] = False
    if isinstance(cfg.get('default_hooks'), dict) and isinstance(cfg.default_hooks.get('logger'), dict):
        cfg.default_hooks.logger['interval'] = 1


def alias_final_checkpoint(cfg) -> None:
    """After a smoke training: links ``epoch_1.pth`` as ``epoch_<the config's max_epochs>.pth``, so that the next
    documented command (which names the full run's last checkpoint) finds it. In a distributed run only the main
    process links (every rank calls this), and a link another process made meanwhile is kept."""
    from mmengine.dist import is_main_process
    full = cfg.get('smoke_full_max_epochs')
    if not smoke_enabled() or not full or full == 1 or not is_main_process():
        return
    src = os.path.join(cfg.work_dir, 'epoch_1.pth')
    dst = os.path.join(cfg.work_dir, f'epoch_{full}.pth')
    if os.path.isfile(src) and not os.path.lexists(dst):
        try:
            os.symlink(os.path.abspath(src), dst)
        except FileExistsError:
            pass
