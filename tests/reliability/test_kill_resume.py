"""kill -9 during training, then --resume: the run continues from its last checkpoint and finishes."""
import os
import re
import signal
import subprocess
import sys
import time

from ..conftest import REPO, TINY_CONFIG, assert_ok, run_cmd
from ..helpers import read_scalars

EPOCHS = 12


def _last_saved_epoch(work: str) -> int:
    """The epoch of the checkpoint named in ``last_checkpoint`` (0 before the first one)."""
    try:
        with open(os.path.join(work, 'last_checkpoint')) as f:
            found = re.search(r'epoch_(\d+)\.pth', f.read())
    except FileNotFoundError:
        return 0
    return int(found.group(1)) if found else 0


def test_kill_9_then_resume_finishes(tmp_path):
    work = str(tmp_path / 'run')
    opts = ['--cfg-options', f'train_cfg.max_epochs={EPOCHS}', 'train_cfg.val_interval=100']
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    proc = subprocess.Popen([sys.executable, 'tools/train.py', TINY_CONFIG, '--work-dir', work, *opts], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _last_saved_epoch(work) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, 'the run ended before it could be killed'
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not os.path.exists(os.path.join(work, f'epoch_{EPOCHS}.pth'))
    # The run may have saved more epochs between the poll and the kill: resume picks the last one it completed
    # (mmengine names it in last_checkpoint after the file is written).
    last_saved = _last_saved_epoch(work)
    assert 2 <= last_saved < EPOCHS
    resumed = run_cmd(['python', 'tools/train.py', TINY_CONFIG, '--work-dir', work, '--resume', *opts])
    assert_ok(resumed)
    assert os.path.exists(os.path.join(work, f'epoch_{EPOCHS}.pth'))
    assert f'resumed epoch: {last_saved},' in resumed.stdout + resumed.stderr
    epochs = {row['epoch'] for row in read_scalars(work) if 'loss' in row}
    assert max(epochs) == EPOCHS
