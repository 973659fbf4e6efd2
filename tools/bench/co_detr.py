"""Train step of our Co-DINO (DetrxCoDETR) vs mmdet's projects/CO-DETR Co-DINO: time and peak memory.

mmdet's Co-DETR is not in the mmdet pip package: pass an mmdetection v3.3 source tree with ``--mmdet-src``
(only its ``projects/CO-DETR`` is used; nothing of it is kept). Both models come from their own R50 LSJ
config (mmdet: ``projects/CO-DETR/configs/codino/co_dino_5scale_r50_lsj_8xb2_1x_coco.py``, ours:
``configs/co_detr/co-dino-5scale_r50_8xb2-lsj-1x_coco.py``) with the same reductions (backbone depth,
encoder / decoder layers, queries, denoising queries; no activation checkpointing); mmdet's weights are
loaded into ours with ``strict=True`` through our checkpoint key mapping (``utils/converters/co_detr.py``), so
both start from the same parameters.

mmdet's code runs from a temporary copy in which only what stops it on a CPU is changed, and every change
is printed: ``torch.randperm(...)[...].cuda()`` (subset indices of the positive queries) becomes
``.to(<device of the tensor it indexes>)``.

Time: one call is a full training step (forward, losses, backward, gradient clipping 0.1, AdamW step) on
one fixed batch; the two models are called interleaved so machine noise hits both alike; the same seed
starts every step (denoising noise, samplers).

Memory: each model runs in its own fresh subprocess (``--memory-worker``), which loads the weights, resets the
kernel's peak-RSS counter (``/proc/self/clear_refs``; without it the peak covers the whole process), runs
``--mem-steps`` training steps and reports the peak resident set size (VmHWM) and its increase over the RSS
just before the first step (what the steps allocate: activations, gradients, optimizer state). The memory
ratio compares those increases; torch has no CPU allocator statistics and tracemalloc does not see tensor
memory, so process RSS is the honest measure here.

On CPU our model runs its own paths for two mmcv operations (same function, tested against mmcv):
RoIAlign as one weighted gather (``DetrxGatherRoIAlign``) and multi-scale deformable attention in our C++
kernel (``DetrxMSDeformAttn``, ``mmdet_detrx/ops``); mmdet's runs mmcv's CPU kernel and PyTorch fallback. On a
GPU both use mmcv's CUDA kernels, so these CPU ratios say nothing about GPU speed.

The last line is ``ratio=<ours/mmdet median train-step time>``; targets: time ratio <= 0.8, memory ratio <= 1.0.

Example::

    python tools/benchmark.py co-detr --mmdet-src /path/to/mmdetection --threads 1
"""
import argparse
import copy
import os
import os.path as osp
import re
import shutil
import tempfile
from typing import List, Tuple

import torch
from mmengine.config import ConfigDict

from ._common import (forwarded_argv, import_package_from, make_train_step, memory_in_subprocesses, non_negative_int,
                      positive_int, print_memory, print_worker_memory, summarize, time_interleaved)
from ._profile import add_profile_arguments, print_profile, profile_steps

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
OUR_CONFIG = osp.join(REPO, 'configs', 'co_detr', 'co-dino-5scale_r50_8xb2-lsj-1x_coco.py')
REF_CONFIG = osp.join('configs', 'codino', 'co_dino_5scale_r50_lsj_8xb2_1x_coco.py')  # under projects/CO-DETR
RESNET_CHANNELS = {18: [64, 128, 256, 512], 34: [64, 128, 256, 512], 50: [256, 512, 1024, 2048],
                   101: [256, 512, 1024, 2048]}
_CUDA_INDEX = re.compile(r'(torch\.randperm\(\s*(\w+)\.shape\[0\]\)\[[^\]]*\])\.cuda\(\)')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--mmdet-src', required=True,
                        help='an mmdetection v3.3 source tree (with projects/CO-DETR)')
    parser.add_argument('--depth', type=int, default=18, choices=sorted(RESNET_CHANNELS),
                        help='ResNet depth of the backbone (reference: 50)')
    parser.add_argument('--enc-layers', type=int, default=2, help='encoder layers (reference: 6)')
    parser.add_argument('--dec-layers', type=int, default=2, help='decoder layers (reference: 6)')
    parser.add_argument('--queries', type=int, default=300, help='DINO queries (reference: 900)')
    parser.add_argument('--dn-queries', type=int, default=100, help='denoising queries (reference: 100)')
    parser.add_argument('--num-classes', type=int, default=80, help='classes of the random ground truth')
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--img-size', type=int, default=256, help='square input size in pixels')
    parser.add_argument('--num-gts', type=int, default=10, help='ground-truth boxes per image')
    parser.add_argument('--repeats', type=positive_int, default=6)
    parser.add_argument('--warmup', type=non_negative_int, default=1)
    parser.add_argument('--mem-steps', type=int, default=2, help='training steps in each memory subprocess')
    parser.add_argument('--no-memory', action='store_true', help='skip the memory subprocesses')
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: leave the default)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--memory-worker', choices=('ours', 'mmdet'), help=argparse.SUPPRESS)
    add_profile_arguments(parser)
    parser.add_argument('--weights', help=argparse.SUPPRESS)


# ---------------------------------------------------------------- mmdet's projects/CO-DETR
def find_reference(mmdet_src: str) -> str:
    """``<mmdet_src>/projects/CO-DETR``, checked; exits with a clear message when it is not usable."""
    if not mmdet_src or not osp.isdir(mmdet_src):
        raise SystemExit(f'--mmdet-src {mmdet_src!r} is not a directory: pass an mmdetection v3.3 source tree '
                         '(git clone -b v3.3.0 https://github.com/open-mmlab/mmdetection)')
    co_detr = osp.join(mmdet_src, 'projects', 'CO-DETR')
    missing = [p for p in ('codetr/__init__.py', 'codetr/co_dino_head.py', 'codetr/transformer.py', REF_CONFIG)
               if not osp.isfile(osp.join(co_detr, p))]
    if missing:
        raise SystemExit(f'--mmdet-src {mmdet_src!r} lacks projects/CO-DETR ({", ".join(missing)} not found): '
                         'pass the root of an mmdetection v3.3 source tree (the pip package has no projects/)')
    return co_detr


def patch_for_cpu(source: str) -> Tuple[str, List[str]]:
    """Replaces ``torch.randperm(x.shape[0])[...].cuda()`` by ``.to(x.device)``; returns (source, changes)."""
    changes = []

    def repl(match: re.Match) -> str:
        changes.append(' '.join(f'{match.group(0)} -> {match.group(1)}.to({match.group(2)}.device)'.split()))
        return f'{match.group(1)}.to({match.group(2)}.device)'

    source = _CUDA_INDEX.sub(repl, source)
    return source, changes


def import_reference(co_detr_dir: str, workdir: str) -> List[str]:
    """Imports mmdet's ``codetr`` package from a CPU-patched copy under ``workdir``; returns the changes."""
    dst = osp.join(workdir, 'projects', 'CO-DETR')
    shutil.copytree(co_detr_dir, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
    changes = []
    for name in sorted(os.listdir(osp.join(dst, 'codetr'))):
        if not name.endswith('.py'):
            continue
        path = osp.join(dst, 'codetr', name)
        with open(path) as f:
            source, file_changes = patch_for_cpu(f.read())
        if file_changes:
            with open(path, 'w') as f:
                f.write(source)
            changes += [f'codetr/{name}: {c}' for c in file_changes]
    leftover = []
    for name in sorted(os.listdir(osp.join(dst, 'codetr'))):
        if name.endswith('.py'):
            with open(osp.join(dst, 'codetr', name)) as f:
                if '.cuda()' in f.read():
                    leftover.append(name)
    if leftover:
        raise SystemExit(f'projects/CO-DETR has .cuda() calls this benchmark does not know how to patch: {leftover}')
    import_package_from(osp.join(dst, 'codetr'), 'codetr')
    return changes


# ---------------------------------------------------------------- configs and models
def quiet_init_logs() -> None:
    """Hides mmengine's per-parameter init messages (mmdet's CoDETR initializes its heads when built)."""
    import logging
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine').setLevel(logging.WARNING)


def reduce_ours(model: ConfigDict, args: argparse.Namespace) -> ConfigDict:
    """Our Co-DINO model config with the benchmark's reductions (backbone, layers, queries), in place."""
    model.backbone.update(depth=args.depth, init_cfg=None)
    model.neck.in_channels = RESNET_CHANNELS[args.depth]
    base = model.query_head
    base.num_queries = args.queries
    if 'dn_queries' in args:
        base.dn_cfg.group_cfg.num_dn_queries = args.dn_queries
    base.encoder.num_layers = args.enc_layers
    base.decoder.num_layers = args.dec_layers
    return model


def reduce_reference(model: ConfigDict, args: argparse.Namespace) -> ConfigDict:
    """mmdet's Co-DINO model config with the same reductions (and no activation checkpointing), in place."""
    model.backbone.update(depth=args.depth, init_cfg=None)
    model.neck.in_channels = RESNET_CHANNELS[args.depth]
    head = model.query_head
    head.num_query = args.queries
    head.dn_cfg.group_cfg.num_dn_queries = args.dn_queries
    head.transformer.encoder.update(num_layers=args.enc_layers, with_cp=-1)
    head.transformer.decoder.num_layers = args.dec_layers
    return model


def derive_configs(args: argparse.Namespace, co_detr_dir: str) -> Tuple[ConfigDict, ConfigDict]:
    """(ours, mmdet's) model configs: each file's own R50 LSJ model with the same reductions."""
    from mmengine.config import Config
    ref = Config.fromfile(osp.join(co_detr_dir, REF_CONFIG), import_custom_modules=False).model
    ours = Config.fromfile(OUR_CONFIG, import_custom_modules=False).model
    return reduce_ours(ours, args), reduce_reference(ref, args)


def build(cfg: ConfigDict, seed: int) -> torch.nn.Module:
    from mmdet.registry import MODELS
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg))
    model.init_weights()
    model.train()
    return model


def make_batch(args: argparse.Namespace):
    """A fixed batch of random images with ``num_gts`` random boxes each (image = LSJ-padded input)."""
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(args.seed)
    size = args.img_size
    inputs = torch.randn(args.batch_size, 3, size, size, generator=gen)
    samples = []
    for _ in range(args.batch_size):
        sample = DetDataSample(metainfo=dict(img_shape=(size, size), batch_input_shape=(size, size),
                                             pad_shape=(size, size), ori_shape=(size, size), scale_factor=(1., 1.)))
        xy = torch.rand(args.num_gts, 2, generator=gen) * size * 0.7
        wh = torch.rand(args.num_gts, 2, generator=gen) * size * 0.3 + 8
        sample.gt_instances = InstanceData(bboxes=torch.cat([xy, (xy + wh).clamp(max=size)], dim=1),
                                           labels=torch.randint(0, args.num_classes, (args.num_gts, ), generator=gen))
        samples.append(sample)
    return inputs, samples


# ---------------------------------------------------------------- memory (one subprocess per model)
def run_worker(args: argparse.Namespace) -> None:
    """Subprocess: build one model, load the weights, run ``mem_steps`` steps; print its memory as json."""
    co_detr_dir = find_reference(args.mmdet_src)
    quiet_init_logs()
    with tempfile.TemporaryDirectory(prefix='detrx_codetr_') as workdir:
        if args.memory_worker == 'mmdet':
            import_reference(co_detr_dir, workdir)
        else:
            import mmdet_detrx  # noqa: F401
        from mmdet.utils import register_all_modules
        register_all_modules(init_default_scope=True)
        ours_cfg, ref_cfg = derive_configs(args, co_detr_dir)
        model = build(ours_cfg if args.memory_worker == 'ours' else ref_cfg, args.seed)
        model.load_state_dict(torch.load(args.weights, weights_only=True), strict=True)
        inputs, samples = make_batch(args)
        print_worker_memory(make_train_step(model, inputs, samples, args.seed), args.mem_steps, args.memory_worker)


# ---------------------------------------------------------------- main
def main(args: argparse.Namespace) -> None:
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.memory_worker:
        run_worker(args)
        return
    co_detr_dir = find_reference(args.mmdet_src)
    quiet_init_logs()
    with tempfile.TemporaryDirectory(prefix='detrx_codetr_') as workdir:
        changes = import_reference(co_detr_dir, workdir)
        import mmdet_detrx  # noqa: F401  registers our modules
        from mmdet.utils import register_all_modules
        register_all_modules(init_default_scope=True)

        ours_cfg, ref_cfg = derive_configs(args, co_detr_dir)
        ref = build(ref_cfg, args.seed)
        ours = build(ours_cfg, args.seed + 1)
        ours.load_state_dict(ref.state_dict(), strict=True)  # reference keys, converted by our load hook
        weights = osp.join(workdir, 'reference.pth')  # reference layout: both load it
        torch.save(ref.state_dict(), weights)
        inputs, samples = make_batch(args)

        print(f'mmdet CO-DETR: {co_detr_dir}; patched for CPU: ' + (''.join(f'\n  {c}' for c in changes) or 'nothing'))
        print(f'config: co_dino_5scale R{args.depth}, {args.enc_layers} enc / {args.dec_layers} dec layers, '
              f'{args.queries} queries + {args.dn_queries} dn, aux RPN+RoI and ATSS, {args.num_classes} classes, '
              f'batch {args.batch_size}x3x{args.img_size}x{args.img_size}, {args.num_gts} gts/img; '
              f'{sum(p.numel() for p in ours.parameters()) / 1e6:.1f}M parameters (same weights); '
              f'torch {torch.__version__}, {torch.get_num_threads()} threads')
        steps = {'ours': make_train_step(ours, inputs, samples, args.seed),
                 'mmdet': make_train_step(ref, inputs, samples, args.seed)}
        if args.profile:
            print_profile(profile_steps({'ours': ours, 'mmdet': ref}, steps, args.profile), args.profile_top)
            return
        times = time_interleaved(steps, repeats=args.repeats, warmup=args.warmup)
        ratio = summarize(times, ours='ours', ref='mmdet')
        del ours, ref
        if not args.no_memory:
            print(f'\npeak memory, one fresh subprocess each, {args.mem_steps} training steps')
            print_memory(memory_in_subprocesses('co-detr', ['--weights', weights]
                                                + forwarded_argv(args, skip=('weights', 'no_memory'))))
    print(f'ratio={ratio:.3f}')
