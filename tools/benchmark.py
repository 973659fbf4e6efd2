"""Benchmarks that compare mmdet_detrx against mmdet in one run (ratios, not absolute times).

Usage::

    python tools/benchmark.py <subcommand> [options]
    python tools/benchmark.py --help            # lists the subcommands

Each subcommand lives in ``tools/bench/<name>.py`` (``-`` in the command is ``_`` in the file name) and
defines ``add_arguments(parser)`` and ``main(args) -> None``; a subcommand that compares two
implementations ends its output with one line ``ratio=<ours/reference>`` so a script can read it.
"""
import argparse
import importlib
import importlib.util
import os
import os.path as osp
import pkgutil
import sys
from types import ModuleType

BENCH_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'bench')


def bench_package() -> ModuleType:
    """The ``bench`` package next to this script, imported from its file (whatever ``sys.path`` holds)."""
    if 'bench' not in sys.modules:
        spec = importlib.util.spec_from_file_location('bench', osp.join(BENCH_DIR, '__init__.py'),
                                                      submodule_search_locations=[BENCH_DIR])
        package = importlib.util.module_from_spec(spec)
        sys.modules['bench'] = package
        spec.loader.exec_module(package)
    return sys.modules['bench']


def discover() -> dict:
    """Maps subcommand name (``conditional-detr``) to its module name (``conditional_detr``)."""
    return {
        info.name.replace('_', '-'): info.name
        for info in pkgutil.iter_modules([BENCH_DIR]) if not info.name.startswith('_')
    }


def main(argv=None) -> None:
    bench_package()
    os.environ.setdefault('PYTHONHASHSEED', '0')
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', metavar='SUBCOMMAND')
    sub.required = True
    modules = {}
    for command, module_name in sorted(discover().items()):
        module = importlib.import_module(f'bench.{module_name}')
        modules[command] = module
        doc = (module.__doc__ or '').strip().splitlines()
        p = sub.add_parser(command, help=doc[0] if doc else command, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
    args = parser.parse_args(argv)
    modules[args.command].main(args)


if __name__ == '__main__':
    main()
