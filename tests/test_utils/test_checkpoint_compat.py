"""Checkpoints load under torch>=2.6 (weights_only default) through mmengine's loader."""
import pickle
import warnings

import numpy as np
import pytest
import torch
from mmengine.runner import load_checkpoint

import mmdet_detrx  # noqa: F401  (installs the loader)
from mmdet_detrx.utils.checkpoint_compat import safe_torch_load


class _Foreign:
    """A class outside the allow-lists."""

    def __init__(self):
        self.x = 1


def test_numpy_meta_loads_through_mmengine(tmp_path):
    model = torch.nn.Linear(3, 2)
    path = str(tmp_path / 'np_meta.pth')
    torch.save({'state_dict': {k: v * 0 + 7 for k, v in model.state_dict().items()},
                'meta': {'best_score': np.float64(0.5), 'hist': np.arange(3), 'epoch': np.int64(4)}}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # the failure the fix is about
    ckpt = load_checkpoint(model, path, map_location='cpu')
    assert ckpt['meta']['best_score'] == 0.5 and ckpt['meta']['epoch'] == 4
    assert torch.all(model.weight == 7)


def test_foreign_objects_warn_or_refuse(tmp_path, monkeypatch):
    path = str(tmp_path / 'foreign.pth')
    torch.save({'state_dict': {}, 'meta': {'obj': _Foreign()}}, path)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        ckpt = safe_torch_load(path)
    assert ckpt['meta']['obj'].x == 1
    assert any('_Foreign' in str(x.message) and path in str(x.message) for x in w)
    monkeypatch.setenv('DETRX_CHECKPOINT_WEIGHTS_ONLY', '1')
    with pytest.raises(pickle.UnpicklingError, match='_Foreign'):
        safe_torch_load(path)


def test_missing_and_not_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match='checkpoint file not found'):
        load_checkpoint(torch.nn.Linear(1, 1), str(tmp_path / 'nope.pth'))
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'definitely not a checkpoint')
    with pytest.raises(pickle.UnpicklingError, match='junk.pth'):
        safe_torch_load(str(junk))
