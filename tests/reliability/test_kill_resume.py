"""kill -9 during training, then --resume: the run continues from its last checkpoint and finishes."""
import os
import signal
import subprocess
import sys
import time

from ..conftest import REPO, TINY_CONFIG, assert_ok, run_cmd
from ..helpers import read_scalars

EPOCHS = 6


def test_kill_9_then_resume_finishes(tmp_path):
    work = str(tmp_path / 'run')
    opts = ['--cfg-options', f'train_cfg.max_epochs={EPOCHS}', 'train_cfg.val_interval=100']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    proc = subprocess.Popen([sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir', work, *opts], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not os.path.exists(os.path.join(work, 'epoch_2.pth')) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, 'the run ended before it could be killed'
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not os.path.exists(os.path.join(work, f'epoch_{EPOCHS}.pth'))
    resumed = run_cmd(['python', 'tools/train.py', TINY_CONFIG, '--work-dir', work, '--resume', *opts])
    assert_ok(resumed)
    assert os.path.exists(os.path.join(work, f'epoch_{EPOCHS}.pth'))
    assert 'resumed epoch: 2' in resumed.stdout + resumed.stderr or 'resumed epoch: 3' in resumed.stdout + resumed.stderr
    epochs = {row['epoch'] for row in read_scalars(work) if 'loss' in row}
    assert max(epochs) == EPOCHS
