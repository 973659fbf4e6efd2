"""Checkpoints load under torch>=2.6 (weights_only default) through mmengine's loader, and never run code."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

from mmdet_detrx.utils.checkpoint_compat import (TRUSTED_ENV, checkpoint_loader_installed, install_checkpoint_loader,
                                                 safe_torch_load, uninstall_checkpoint_loader)


class _Foreign:
    """A class outside the allow-lists."""

    def __init__(self):
        self.x = 1


class _RunsCode:
    """Unpickling this calls os.system: the attack weights_only exists for."""

    def __reduce__(self):
        return (os.system, ('touch /tmp/detrx_pwned',))


@pytest.fixture
def installed():
    """The loader installed for the test; afterwards as it was before (other tests in this process, e.g. a runner's
    ``load_from`` after a config's custom_imports installed it, rely on it)."""
    was_installed = checkpoint_loader_installed()
    install_checkpoint_loader()
    yield
    if was_installed:
        install_checkpoint_loader()
    else:
        uninstall_checkpoint_loader()


def test_importing_the_package_changes_no_loader():
    code = ('import mmdet_detrx; from mmengine.runner.checkpoint import CheckpointLoader; '
            'from mmdet_detrx.utils.checkpoint_compat import checkpoint_loader_installed; '
            'assert not checkpoint_loader_installed(); import mmdet_detrx.checkpoint_loading; '
            'assert checkpoint_loader_installed(); print("ok")')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.stdout.strip() == 'ok', out.stderr[-2000:]


def test_numpy_meta_loads_through_mmengine(tmp_path, installed):
    model = torch.nn.Linear(3, 2)
    path = str(tmp_path / 'np_meta.pth')
    torch.save({'state_dict': {k: v * 0 + 7 for k, v in model.state_dict().items()},
                'meta': {'best_score': np.float64(0.5), 'hist': np.arange(3), 'epoch': np.int64(4)}}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # the failure the loader is about
    ckpt = load_checkpoint(model, path, map_location='cpu')
    assert ckpt['meta']['best_score'] == 0.5 and ckpt['meta']['epoch'] == 4
    assert torch.all(model.weight == 7)


def test_mmengine_message_hub_loads_weights_only(tmp_path):
    """What mmengine's runner saves (HistoryBuffer with its pickled statistics methods) loads without a full
    unpickle."""
    from mmengine.logging import HistoryBuffer, MessageHub
    hub = MessageHub.get_instance('detrx_test_hub')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', 0.5)
    path = str(tmp_path / 'hub.pth')
    torch.save({'state_dict': {}, 'message_hub': hub.state_dict(), 'meta': {'epoch': np.int64(1)}}, path)
    ckpt = safe_torch_load(path)
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer) and buf.mean() == 1.0


def test_foreign_objects_refused_by_default_and_allowed_when_trusted(tmp_path, monkeypatch):
    path = str(tmp_path / 'foreign.pth')
    torch.save({'state_dict': {}, 'meta': {'obj': _Foreign()}}, path)
    monkeypatch.delenv(TRUSTED_ENV, raising=False)
    with pytest.raises(pickle.UnpicklingError, match=r'foreign\.pth: refusing to unpickle .*_Foreign') as err:
        safe_torch_load(path)
    assert f'{TRUSTED_ENV}={path}' in str(err.value)
    monkeypatch.setenv(TRUSTED_ENV, path)
    assert safe_torch_load(path)['meta']['obj'].x == 1


def test_a_pickle_that_runs_code_does_not_run(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUSTED_ENV, raising=False)
    if os.path.exists('/tmp/detrx_pwned'):
        os.remove('/tmp/detrx_pwned')
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'meta': _RunsCode()}, path)
    with pytest.raises(pickle.UnpicklingError, match='system'):
        safe_torch_load(path)
    assert not os.path.exists('/tmp/detrx_pwned')


def test_getattr_is_restricted(tmp_path):
    """A pickle may use getattr only on HistoryBuffer's public attributes (mmengine's statistics methods)."""
    from mmdet_detrx.utils.checkpoint_compat import _restricted_getattr
    from mmengine.logging import HistoryBuffer
    assert _restricted_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        _restricted_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        _restricted_getattr(os, 'system')


def test_missing_truncated_and_not_a_checkpoint(tmp_path, installed):
    with pytest.raises(FileNotFoundError, match='checkpoint file not found'):
        load_checkpoint(torch.nn.Linear(1, 1), str(tmp_path / 'nope.pth'))
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'definitely not a checkpoint')
    with pytest.raises(pickle.UnpicklingError, match='junk.pth'):
        safe_torch_load(str(junk))
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': torch.nn.Linear(30, 30).state_dict()}, good)
    cut = tmp_path / 'truncated.pth'
    cut.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
    with pytest.raises(pickle.UnpicklingError, match='truncated.pth is not a readable torch checkpoint'):
        safe_torch_load(str(cut))


def test_uninstall_restores_mmengine(installed):
    assert checkpoint_loader_installed()
    uninstall_checkpoint_loader()
    assert not checkpoint_loader_installed() and CheckpointLoader._schemes.get('') is not None
