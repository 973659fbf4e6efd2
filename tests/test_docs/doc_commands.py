"""The shell commands that README.md, docs/*.md and configs/*/README.md show, as a user would copy them.

A fenced block whose info string is ``bash``, ``sh`` or ``shell`` is a block of commands that must run as written
on a fresh clone after ``make setup``, offline; other fences (``text``, ``python``, none) are not run (synopses
with placeholders, outputs, commands that need data or hardware this project cannot ship: the doc says so).
"""
import glob
import os
import os.path as osp
import re
import shutil
from dataclasses import dataclass
from typing import List

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RUNNABLE = ('bash', 'sh', 'shell')
# `make test` inside the tests would run the suite recursively; CI runs it anyway.
NOT_RUN = (re.compile(r'^make test\b'), )
# top-level folders that documented commands write into: copied into each sandbox, not linked
WRITTEN_BY_COMMANDS = ('docs', )
PLACEHOLDER = re.compile(r'\b(CONFIG|CHECKPOINT|CKPT|IMAGE|CONFIG_A|CONFIG_B|PRETRAIN_CKPT)\b|/path/to/')


@dataclass
class Block:
    doc: str  # path relative to the repository root
    line: int  # 1-based line of the opening fence
    commands: List[str]  # one entry per command (continuation lines joined), comments dropped


def documents() -> List[str]:
    docs = ['README.md'] + sorted(glob.glob(osp.join(ROOT, 'docs', '*.md')))
    docs += sorted(glob.glob(osp.join(ROOT, 'configs', '*', 'README.md')))
    return [osp.relpath(osp.join(ROOT, d), ROOT) for d in docs]


def split_commands(text: str) -> List[str]:
    """Commands of a shell block: continuation lines joined, comment-only lines dropped; a multi-line compound
    command (for/while/if ... done/fi) stays one entry."""
    commands, current, depth = [], '', 0
    for raw in text.splitlines():
        line = raw.rstrip()
        if not current and (not line.strip() or line.lstrip().startswith('#')):
            continue
        current = f'{current}\n{line}' if current else line
        words = re.findall(r'\b(for|while|until|if|case|do|done|fi|esac)\b', re.sub(r'#.*', '', line))
        depth += sum(w in ('for', 'while', 'until', 'if', 'case') for w in words)
        depth -= sum(w in ('done', 'fi', 'esac') for w in words)
        if line.endswith('\\') or depth > 0:
            continue
        commands.append(current)
        current = ''
    if current:
        commands.append(current)
    return commands


def shell_blocks(doc: str) -> List[Block]:
    """The runnable fenced blocks of ``doc`` (relative to the repository root)."""
    blocks, info, start, body = [], None, 0, []
    with open(osp.join(ROOT, doc)) as f:
        for i, line in enumerate(f, 1):
            stripped = line.strip()
            if stripped.startswith('```'):
                if info is None:
                    info, start, body = stripped[3:].strip().lower(), i, []
                else:
                    if info in RUNNABLE:
                        blocks.append(Block(doc, start, split_commands(''.join(body))))
                    info = None
                continue
            if info is not None:
                body.append(line)
    return blocks


def make_sandbox(path: str) -> str:
    """A fresh working copy for running the commands: links to the repository's files, its own work_dirs, and its
    own copy of docs/ (documented commands write their results and plots there: a smoke run must not overwrite the
    committed ones)."""
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(ROOT):
        if name in ('work_dirs', '.git', '.pytest_cache') or name.startswith('.') and name != '.venv':
            continue
        if name in WRITTEN_BY_COMMANDS:
            shutil.copytree(osp.join(ROOT, name), osp.join(path, name))
        else:
            os.symlink(osp.join(ROOT, name), osp.join(path, name))
    return path
