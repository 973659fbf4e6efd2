"""Builds and loads mmdet_detrx's C++ CPU kernels (``csrc/``) as one extension module, on first use.

The kernels (multi-scale deformable attention, dropout) are compiled with ``torch.utils.cpp_extension.load``
the first time one is needed (~1 min on 2 cores; a C++ compiler and ninja, which the install provides) and
cached by PyTorch (``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``; a source change rebuilds).
They run on PyTorch's intra-op threads (``torch.set_num_threads``; OpenMP, shared with PyTorch) and give the same
results on any number of threads.
Where the build fails, :func:`load_cpu_extension` warns once with the reason and returns None, and every caller
computes the same function with PyTorch operations (slower); ``DETRX_CPU_EXTENSION=0`` skips the build.
"""
import hashlib
import os
import os.path as osp
import warnings
from types import ModuleType
from typing import Optional

# the real path: the build command names the sources, and a process that reaches the package through a symlink
# (mim's link in site-packages, which `python tools/*.py` imports; a test sandbox) would otherwise give another
# command, and ninja rebuilds everything (1-3 min) each time such processes alternate with the others
_CSRC = osp.join(osp.dirname(osp.realpath(__file__)), 'csrc')
SOURCES = [osp.join(_CSRC, name) for name in ('bindings.cpp', 'ms_deform_attn_cpu.cpp', 'fast_dropout_cpu.cpp')]
_state: dict = {}
# no FMA contraction: the deformable attention computes pixel coordinates as grid_sample does
_CFLAGS = ['-O3', '-march=native', '-ffp-contract=off']
# -fopenmp first: without it at::parallel_for runs serially (ATen's OpenMP backend is a header); the extension
# then shares PyTorch's OpenMP runtime (same soname, loaded once) and so its thread count. Serial where a
# compiler has no OpenMP (e.g. Apple clang).
_BUILDS = (('', ['-fopenmp']), ('_serial', []))


def _build_tag() -> str:
    """A short hash of what the build depends on besides the sources' content: this CPU's model and flags (the build
    uses ``-march=native``), the sources' folder and PyTorch's folder (both are named in the build command). One
    build folder per combination: two checkouts or environments sharing the cache would otherwise rebuild each
    other's build (1-3 min) every time they alternate."""
    import torch
    try:
        with open('/proc/cpuinfo') as f:
            lines = [line for line in f if line.startswith(('model name', 'flags'))][:2]
    except OSError:
        lines = []
    lines += [_CSRC, osp.dirname(torch.__file__)]
    return hashlib.sha1('\n'.join(lines).encode()).hexdigest()[:8]


def load_cpu_extension() -> Optional[ModuleType]:
    """The compiled extension (built and cached on the first call), or None when it is switched off
    (``DETRX_CPU_EXTENSION=0``) or cannot be built (warned once, with the reason)."""
    if 'ext' in _state:
        return _state['ext']
    ext = None
    if os.environ.get('DETRX_CPU_EXTENSION', '1') != '0':
        errors = []
        for suffix, flags in _BUILDS:
            try:
                from torch.utils.cpp_extension import load

                # copies: torch appends its link flags to the list it gets; a changed _BUILDS would make a
                # second load in this process another version (``_v1``), which ninja rebuilds (twice, with the next)
                ext = load(f'detrx_cpu_ops_{_build_tag()}{suffix}', SOURCES, extra_cflags=_CFLAGS + flags,
                           extra_ldflags=list(flags), verbose=False)
                break
            except Exception as error:  # a missing compiler, ninja or OpenMP, a failed build: next, then fall back
                errors.append(f"{type(error).__name__}: ...{str(error).strip()[-500:]}")  # the end: the compiler's
        if ext is None:
            warnings.warn(f'mmdet_detrx: the C++ CPU kernels in {_CSRC} could not be built ({"; ".join(errors)}); '
                          'using PyTorch operations instead (same results, slower). Set DETRX_CPU_EXTENSION=0 to '
                          'skip the build.')
        elif errors:
            warnings.warn(f'mmdet_detrx: the C++ CPU kernels were built without OpenMP ({errors[0]}): they run on '
                          'one thread.')
    _state['ext'] = ext
    return ext


__all__ = ['load_cpu_extension']
