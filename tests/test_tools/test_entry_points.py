"""The stock-runner entry points on real (vendored) data: train/test, resume, load_from, mim, distributed,
and mmdet's own train script run from outside the repository."""
import os
import os.path as osp
import sys
import textwrap

import pytest
import torch

from tests.conftest import REPO, TINY_CONFIG, assert_ok, run_cmd
from tests.helpers import read_scalars, train_losses

PY = sys.executable


def test_train_resume_then_test(tmp_path):
    wd = str(tmp_path / 'wd')
    proc = run_cmd([PY, 'tools/train.py', TINY_CONFIG, '--work-dir', wd, '--cfg-options', 'train_cfg.max_epochs=1'])
    assert_ok(proc)
    assert osp.isfile(osp.join(wd, 'epoch_1.pth'))
    train_losses(wd)

    proc = run_cmd([PY, 'tools/train.py', TINY_CONFIG, '--work-dir', wd, '--resume',
                    '--cfg-options', 'train_cfg.max_epochs=2'])
    assert_ok(proc)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 1' in log, log[-3000:]
    assert osp.isfile(osp.join(wd, 'epoch_2.pth'))

    proc = run_cmd([PY, 'tools/test.py', TINY_CONFIG, osp.join(wd, 'epoch_2.pth'), '--work-dir', str(tmp_path / 't'),
                    '--out', str(tmp_path / 'preds.pkl')])
    assert_ok(proc)
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr
    assert osp.getsize(tmp_path / 'preds.pkl') > 0


def test_load_from_restores_weights(tmp_path):
    """``load_from`` through the runner gives exactly the saved weights (torch>=2.6 weights_only default)."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    import mmdet_detrx  # noqa: F401
    wd = str(tmp_path / 'wd')
    assert_ok(run_cmd([PY, 'tools/train.py', TINY_CONFIG, '--work-dir', wd, '--cfg-options', 'train_cfg.max_epochs=1']))
    ckpt = osp.join(wd, 'epoch_1.pth')
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.work_dir = str(tmp_path / 'wd2')
    cfg.load_from = ckpt
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    saved = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    current = runner.model.state_dict()
    assert saved.keys() == current.keys()
    for k in saved:
        assert torch.equal(saved[k], current[k]), k


def test_mim_train_and_test(tmp_path):
    wd = str(tmp_path / 'wd')
    mim = osp.join(osp.dirname(PY), 'mim')
    proc = run_cmd([mim, 'train', 'mmdet_detrx', TINY_CONFIG, '--work-dir', wd,
                    '--cfg-options', 'train_cfg.max_epochs=1'], cwd=str(tmp_path))
    assert_ok(proc)
    assert osp.isfile(osp.join(wd, 'epoch_1.pth'))
    assert len(train_losses(wd)) >= 1
    proc = run_cmd([mim, 'test', 'mmdet_detrx', TINY_CONFIG, '--checkpoint', osp.join(wd, 'epoch_1.pth'),
                    '--work-dir', str(tmp_path / 't')], cwd=str(tmp_path))
    assert_ok(proc)
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr


DUMP_HOOK = '''
import torch
from mmengine.hooks import Hook
from mmdet.registry import HOOKS


@HOOKS.register_module()
class DumpRankWeightsHook(Hook):
    def after_train(self, runner):
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()},
                   f'{runner.work_dir}/rank{runner.rank}_of_{runner.world_size}.pth')
'''


def test_dist_train_two_ranks_gloo(tmp_path):
    (tmp_path / 'dump_rank_hook.py').write_text(DUMP_HOOK)
    cfg = tmp_path / 'dist_cfg.py'
    cfg.write_text(textwrap.dedent(f'''
        _base_ = [{TINY_CONFIG!r}]
        custom_imports = dict(imports=['mmdet_detrx', 'dump_rank_hook'], allow_failed_imports=False)
        custom_hooks = [dict(type='DumpRankWeightsHook')]
        train_cfg = dict(max_epochs=2, val_interval=100)
    '''))
    wd = str(tmp_path / 'wd')
    proc = run_cmd(['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', wd],
                   env={'PYTHON': PY, 'PORT': str(29500 + os.getpid() % 1000),
                        'PYTHONPATH': f'{tmp_path}{os.pathsep}{REPO}', 'OMP_NUM_THREADS': '1'})
    assert_ok(proc)
    w0 = torch.load(osp.join(wd, 'rank0_of_2.pth'), weights_only=True)
    w1 = torch.load(osp.join(wd, 'rank1_of_2.pth'), weights_only=True)
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), f'{k} differs between ranks'
    # training really happened on both ranks (2 iterations: 4 images, 2 ranks, batch 2)
    rows = [r for r in read_scalars(wd) if 'loss' in r]
    assert rows and rows[-1]['epoch'] == 2, rows


def test_mmdet_own_train_script_from_outside_repo(tmp_path):
    """A user with an mmdet setup runs mmdet's tools/train.py on our config from another directory."""
    import mmdet
    script = osp.join(osp.dirname(mmdet.__file__), '.mim', 'tools', 'train.py')
    if not osp.isfile(script):
        pytest.skip('mmdet was installed without its .mim tools')
    wd = str(tmp_path / 'wd')
    env = {'PYTHONPATH': ''}
    proc = run_cmd([PY, script, TINY_CONFIG, '--work-dir', wd, '--cfg-options', 'train_cfg.max_epochs=1'],
                   cwd=str(tmp_path), env=env)
    assert_ok(proc)
    assert osp.isfile(osp.join(wd, 'epoch_1.pth'))
    train_losses(wd)


def test_unknown_config_and_missing_checkpoint(tmp_path):
    proc = run_cmd([PY, 'tools/train.py', 'no_such_config_r50.py'])
    assert proc.returncode != 0
    assert "config not found: 'no_such_config_r50.py'" in proc.stderr
    missing = str(tmp_path / 'missing.pth')
    proc = run_cmd([PY, 'tools/test.py', TINY_CONFIG, missing])
    assert proc.returncode != 0
    assert f'checkpoint file not found: {missing!r}' in proc.stderr
    proc = run_cmd([PY, 'tools/train.py', TINY_CONFIG, '--work-dir', str(tmp_path / 'w'),
                    '--cfg-options', f'load_from={missing}'])
    assert proc.returncode != 0
    assert missing in proc.stderr


def test_list_configs_includes_tiny_names():
    proc = run_cmd([PY, 'tools/train.py', '--list'])
    assert_ok(proc)
    names = proc.stdout.split()
    assert names and all(n.endswith('.py') for n in names)
    assert not any('_base_' in n for n in names)
