"""Train a detector with the stock MMEngine runner (mmdet_detrx's modules registered).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
    python tools/train.py --list                         # the configs this plugin ships
    bash tools/dist_train.sh CONFIG NUM_PROCS [args]     # distributed (gloo on CPU, nccl/gloo on GPU)

CONFIG is a path or the name of one of our configs (e.g. ``conditional-detr_r18_1xb2-12e_coco128``).
"""
import argparse
import os

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import mmdet_detrx  # noqa: F401  (registers modules)
import mmdet_detrx.checkpoint_loading  # noqa: F401,E402  (safe loader for local checkpoints)
from mmdet_detrx.utils.cli import check_checkpoint, list_configs, load_config, setup_cpu_distributed
from mmdet_detrx.utils.pretrained import PretrainedWeightsError, check_pretrained_weights
from mmdet_detrx.utils.smoke import alias_final_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', nargs='?', help='train config file path or config name')
    parser.add_argument('--list', action='store_true', help='list the configs shipped with mmdet_detrx')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true', default=False, help='enable automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true', help='scale lr by the actual batch size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from the given checkpoint, or from the latest one in work_dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not args.list and not args.config:
        parser.error('the config argument is required')
    return args


def build_config(args) -> Config:
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise RuntimeError('--auto-scale-lr needs `auto_scale_lr.base_batch_size` in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = check_checkpoint(args.resume)
    elif cfg.get('load_from'):
        check_checkpoint(cfg.load_from)
    check_pretrained_weights(cfg)
    setup_cpu_distributed(cfg, args.launcher)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    if args.list:
        print('\n'.join(list_configs()))
        return
    try:
        cfg = build_config(args)
    except PretrainedWeightsError as err:
        raise SystemExit(f'error: {err}') from None
    runner = Runner.from_cfg(cfg)
    runner.train()
    alias_final_checkpoint(cfg)


if __name__ == '__main__':
    main()
