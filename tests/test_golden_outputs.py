"""Behaviour stays identical through refactors: every shipped small config's losses and predictions on a fixed
batch, with name-seeded parameters, equal the golden ones saved before (tests/golden.py writes them)."""
import json
import math

import pytest

from .golden import GOLDEN_FILE, compute, small_configs
from .helpers import torch_threads

with open(GOLDEN_FILE) as f:
    GOLDEN = json.load(f)


def test_every_small_config_has_golden_outputs():
    assert sorted(GOLDEN) == small_configs()


def _close(a, b, path=''):
    """Equal structures, floats within 1e-4 relative (thread counts change summation order)."""
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), f'{path}: keys {sorted(a)} != {sorted(b)}'
        for k in a:
            _close(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, list):
        assert len(a) == len(b), f'{path}: length {len(a)} != {len(b)}'
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f'{path}[{i}]')
    elif isinstance(a, float):
        assert math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-4), f'{path}: {a} != golden {b}'
    else:
        assert a == b, f'{path}: {a} != golden {b}'


@pytest.fixture
def one_thread():
    """One intra-op thread, as tests/golden.py writes them, however the tests are started (the environment's
    OMP_NUM_THREADS is read once, when torch loads): with two, near-ties (proposal order) can fall the other way."""
    with torch_threads(1):
        yield


@pytest.mark.parametrize('config', small_configs())
def test_outputs_equal_golden(config, one_thread):
    _close(compute(config), GOLDEN[config], config)
