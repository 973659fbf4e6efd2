import os
import os.path as osp
import subprocess
import sys

import pytest

# the class-name encoder (sentence-transformers) loads from its PyPI package; never ask a hub
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

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
    assert proc.returncode == 0, f'exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-6000:]}'


@pytest.fixture(scope='session')
def repo():
    return REPO


@pytest.fixture(scope='session')
def tiny_config():
    return TINY_CONFIG
