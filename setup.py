"""Install mmdet_detrx.

Like mmdet, the package ships its ``configs/`` and ``tools/`` under ``mmdet_detrx/.mim`` so that
``mim train mmdet_detrx CONFIG`` finds them in a regular install. In an editable install mim reads them
from the repository root instead.
"""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(ROOT, 'mmdet_detrx', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def add_mim_extension() -> None:
    """Links configs/ and tools/ into mmdet_detrx/.mim (relative symlinks).

    mim looks for ``<package>/.mim/{configs,tools}``. In an editable install the links point at the
    repository; a regular wheel build copies the files behind them into the wheel.
    """
    mim_root = osp.join(ROOT, 'mmdet_detrx', '.mim')
    os.makedirs(mim_root, exist_ok=True)
    for name in ('configs', 'tools'):
        dst = osp.join(mim_root, name)
        if osp.islink(dst):
            continue
        if osp.isdir(dst):
            shutil.rmtree(dst)
        elif osp.exists(dst):
            os.remove(dst)
        os.symlink(osp.join('..', '..', name), dst)


def read_requirements(path: str) -> list:
    with open(osp.join(ROOT, path)) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith('#')]


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='mmdet_detrx',
        version=read_version(),
        description='DETR-family methods (Conditional DETR, UP-DETR, METR, Co-DETR) for MMDetection 3.x',
        long_description=open(osp.join(ROOT, 'README.md')).read() if osp.exists(osp.join(ROOT, 'README.md')) else '',
        long_description_content_type='text/markdown',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'data')),
        include_package_data=True,
        package_data={'mmdet_detrx': ['ops/csrc/*.cpp', 'ops/csrc/*.h', '.mim/configs/**/*', '.mim/tools/**/*',
                                      '.mim/model-index.yml']},
        python_requires='>=3.8',
        install_requires=['mmdet>=3.3.0,<3.4', 'mmcv>=2.0.0,<2.2.0', 'mmengine>=0.10.0,<1.0',
                          'scipy'],
        license='Apache License 2.0',
        zip_safe=False,
    )
