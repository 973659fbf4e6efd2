"""Every documented shell command runs as written (offline, on a fresh clone after ``make setup``).

Each document's runnable blocks run in order, in one sandbox (so a chain like train -> convert -> test works), with
``DETRX_SMOKE=1`` (mmdet_detrx/utils/smoke.py): the commands are unchanged, the runs are cut to seconds.
"""
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from .doc_commands import NOT_RUN, PLACEHOLDER, documents, make_sandbox, shell_blocks, split_commands

DOCS_WITH_COMMANDS = [d for d in documents() if any(b.commands for b in shell_blocks(d))]


def test_every_document_is_found():
    docs = documents()
    assert 'README.md' in docs and 'docs/benchmarks.md' in docs and 'configs/co_detr/README.md' in docs
    assert 'README.md' in DOCS_WITH_COMMANDS


def test_split_commands_joins_continuations_and_loops():
    text = '# comment\npython a.py \\\n    --x 1   # note\n\nfor m in a b; do\n  echo $m\ndone\nls\n'
    assert split_commands(text) == ['python a.py \\\n    --x 1   # note', 'for m in a b; do\n  echo $m\ndone', 'ls']


@pytest.mark.parametrize('doc', DOCS_WITH_COMMANDS)
def test_no_placeholders_in_runnable_blocks(doc):
    """Synopses with CONFIG / CHECKPOINT / /path/to/ belong in ```text blocks; runnable blocks are concrete."""
    bad = [(b.line, c) for b in shell_blocks(doc) for c in b.commands if PLACEHOLDER.search(c)]
    assert not bad, f'{doc}: runnable blocks with placeholders (use a ```text block for synopses): {bad}'


def _run_document(doc: str, sandbox: str) -> str:
    """Runs the document's commands in order; '' when all passed, else the failure report."""
    make_sandbox(sandbox)
    env = dict(os.environ, DETRX_SMOKE='1', OMP_NUM_THREADS='1', MPLBACKEND='Agg')
    env['PATH'] = osp.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
    for block in shell_blocks(doc):
        for command in block.commands:
            if any(p.search(command) for p in NOT_RUN):
                continue
            start = time.time()  # limit per command: `make demo` takes ~5 min idle, over 15 beside two trainings
            proc = subprocess.run(['bash', '-c', 'set -eo pipefail\n' + command], cwd=sandbox, env=env,
                                  capture_output=True, text=True, timeout=1800)
            if os.environ.get('DETRX_DOC_TIMES'):  # where the time goes: one line per command
                with open(os.environ['DETRX_DOC_TIMES'], 'a') as log:
                    log.write(f'{time.time() - start:7.1f}s {doc}:{block.line} {command.splitlines()[0][:110]}\n')
            if proc.returncode != 0:
                return (f'{doc}:{block.line}: `{command}` exited {proc.returncode}\n'
                        f'--- stdout (end)\n{proc.stdout[-3000:]}\n--- stderr (end)\n{proc.stderr[-3000:]}')
    return ''


@pytest.fixture(scope='module')
def doc_runs(tmp_path_factory):
    """Every document run once, two at a time (each in its own sandbox; the commands are mostly single-threaded
    Python start-up and a few seconds of work, so two runs share the 2 cores well)."""
    root = tmp_path_factory.mktemp('docs')
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {doc: pool.submit(_run_document, doc, str(root / f'sandbox{i}'))
                   for i, doc in enumerate(DOCS_WITH_COMMANDS)}
        return {doc: f.result() for doc, f in futures.items()}


@pytest.mark.parametrize('doc', DOCS_WITH_COMMANDS)
def test_documented_commands_run(doc, doc_runs):
    assert doc_runs[doc] == '', doc_runs[doc]
