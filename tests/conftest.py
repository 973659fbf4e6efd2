import os
import os.path as osp
import subprocess
import sys

import pytest

# the class-name encoder (sentence-transformers) loads from its PyPI package; never ask a hub
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')
if os.environ.get('PYTEST_XDIST_WORKER'):
    # two workers share the 2 cores: one thread each (and for the trainings they start), or they oversubscribe
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    import torch
    torch.set_num_threads(1)


def pytest_collection_modifyitems(session, config, items):
    """The documented-commands run (the longest file, two commands at a time) first: with two workers
    (scripts/run_tests.sh) the other files run beside it instead of after it."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith('tests/test_docs/') else 1)


REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(REPO, 'tests', 'configs', 'tiny_conditional_detr_coco128.py')


def run_cmd(cmd, cwd=None, env=None, timeout=600):
    """Runs a command, returns CompletedProcess; on failure the assertion shows the output tail."""
    full_env = dict(os.environ)
    full_env.setdefault('PYTHONWARNINGS', 'ignore')
    full_env['PATH'] = osp.dirname(sys.executable) + os.pathsep + full_env.get('PATH', '')
    if env:
        full_env.update(env)
    return subprocess.run(cmd, cwd=cwd or REPO, env=full_env, capture_output=True, text=True, timeout=timeout)


def assert_ok(proc):
    assert proc.returncode == 0, \
        f'exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-6000:]}'


@pytest.fixture(scope='session')
def repo():
    return REPO


@pytest.fixture(scope='session')
def tiny_config():
    return TINY_CONFIG
