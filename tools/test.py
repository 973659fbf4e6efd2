"""Evaluate a checkpoint with the stock MMEngine runner (mmdet_detrx's modules registered).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl] [--show-dir DIR] [--allow-partial]

The checkpoint must fit the config's model exactly: missing, unexpected or mis-shaped tensors stop the run with
the keys listed (nothing is evaluated with half-random weights), unless ``--allow-partial``.
"""
import argparse
import os

from mmengine.config import DictAction
from mmengine.runner import Runner

import mmdet_detrx  # noqa: F401  (registers modules)
import mmdet_detrx.checkpoint_loading  # noqa: F401,E402  (safe loader for local checkpoints)
from mmdet_detrx.utils.cli import check_checkpoint, load_config, setup_cpu_distributed
from mmdet_detrx.utils.strict_load import CheckpointMismatchError, load_model_weights


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a detector')
    parser.add_argument('config', help='test config file path or config name')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump predictions to a pickle file (.pkl) for offline evaluation')
    parser.add_argument('--show-dir', help='draw predictions into this dir (relative to the run dir)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value')
    parser.add_argument('--allow-partial', action='store_true',
                        help='evaluate even if the checkpoint does not fit the model (missing / unexpected / '
                             'mis-shaped tensors are printed and left at their initialisation)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    checkpoint = check_checkpoint(args.checkpoint)
    cfg.load_from = None  # loaded below, strictly
    if args.show_dir:
        vis = cfg.default_hooks.visualization
        vis.draw = True
        vis.test_out_dir = args.show_dir
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl/.pickle file, got {args.out!r}')
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(cfg.test_evaluator, dict) else cfg.test_evaluator
        cfg.test_evaluator.append(dict(type='DumpDetResults', out_file_path=args.out))
    setup_cpu_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    try:
        load_model_weights(runner.model, checkpoint, allow_partial=args.allow_partial)
    except CheckpointMismatchError as err:
        raise SystemExit(f'error: {err}') from None
    runner.test()


if __name__ == '__main__':
    main()
