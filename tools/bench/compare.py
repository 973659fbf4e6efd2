"""Cost of two detector configs side by side on one real batch: parameters, FLOPs, train step, inference, memory.

CONFIG_A and CONFIG_B are paths, names of our configs (``conditional-detr_r18_1xb2-12e_coco128``) or configs of
an installed OpenMMLab package (``mmdet::detr/detr_r50_8xb2-150e_coco.py``). Both models are built side by side
(same seed), ONE batch is taken from the train dataloader of config A (or of ``--data``), each model's own
``data_preprocessor`` prepares it, and then, with A and B alternating (A, B, B, A, ...):

* parameters: ``sum(p.numel())`` over all parameters (trainable ones in the json too);
* FLOPs: mmengine's ``FlopAnalyzer`` on the tensor forward (backbone, neck, transformer, head outputs; no
  post-processing, no loss) of the preprocessed batch. It counts one fused multiply-add as one flop, as fvcore
  does (``baddbmm`` counted like ``bmm``; element-wise ops, softmax and the like are not counted). If counting
  fails for a model the table says ``n/a`` and why; the json lists the operators it did not count;
* train step: forward + losses + backward + the optimizer step of the config's ``optim_wrapper`` (clipping,
  paramwise lr included);
* inference: ``predict`` (with post-processing) under ``torch.no_grad`` in eval mode;
* peak memory of training: each model runs in a fresh subprocess (the same batch, the same config) that builds
  it and does ``1 + --memory-steps`` train steps. On CUDA: ``torch.cuda.max_memory_allocated`` minus what was
  allocated before the model was built. On CPU: the resident-set high-water mark (``VmHWM``, reset through
  ``/proc/self/clear_refs`` after the imports and the batch loading) minus the RSS at that reset, i.e.
  parameters, gradients, optimizer state, activations and allocator overhead as the OS sees them (Python's
  ``tracemalloc`` does not see torch's allocations). Where the reset is not possible the baseline is
  ``ru_maxrss`` so far, which can hide a model smaller than the import peak.

Times are medians over ``--repeats`` rounds with min/max and quartiles; the B/A column divides B by A.
Progress goes to stderr, the markdown table to stdout; the last line is ``ratio=<B/A of the train-step median>``.
Pretrained ``init_cfg``s (any ``init_cfg`` with a ``checkpoint``) are removed by default (offline machines);
``--pretrained`` keeps them.

Example::

    python tools/benchmark.py compare conditional-detr_r18_1xb2-12e_coco128 detr_r18_1xb2-12e_coco128 --repeats 5
    python tools/benchmark.py compare conditional-detr_r18_1xb2-12e_coco128 mmdet::detr/detr_r50_8xb2-150e_coco.py \\
        --data conditional-detr_r18_1xb2-12e_coco128
"""
import argparse
import copy
import json
import os
import os.path as osp
import pickle
import random
import subprocess
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction

from ._common import (load_any_config, noise_report, non_negative_int, positive_int, print_noise, reset_rss_peak,
                           rss_peak, spread, time_interleaved)
from mmdet_detrx.utils.model_build import pretrained_init_keys, strip_pretrained  # noqa: F401

BENCH_PARENT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config_a', help='config A: path, our config name, or mmdet::<dir>/<file>.py')
    parser.add_argument('config_b', help='config B (the ratio column is B/A)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='key=value overrides for both configs (and the --data config)')
    parser.add_argument('--cfg-options-a', nargs='+', action=DictAction, default={}, help='overrides for A only')
    parser.add_argument('--cfg-options-b', nargs='+', action=DictAction, default={}, help='overrides for B only')
    parser.add_argument('--data', help='config (path or name) whose train_dataloader gives the batch; default A')
    parser.add_argument('--batch-size', type=int, help='images in the batch (default: the train_dataloader\'s)')
    parser.add_argument('--repeats', type=positive_int, default=10, help='timed rounds (each runs A and B once)')
    parser.add_argument('--warmup', type=non_negative_int, default=2, help='untimed rounds first')
    parser.add_argument('--memory-repeats', type=int, default=1,
                        help='fresh subprocesses per model for the peak memory (0: skip memory)')
    parser.add_argument('--memory-steps', type=int, default=2, help='train steps after the first in each')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='auto', help='cpu, cuda, cuda:1, ... (auto: cuda when available)')
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: leave the default)')
    parser.add_argument('--no-pretrained', dest='no_pretrained', action='store_true', default=True,
                        help='remove every init_cfg that loads a checkpoint (the default)')
    parser.add_argument('--pretrained', dest='no_pretrained', action='store_false',
                        help='keep the configs\' pretrained init_cfgs (needs the checkpoints)')
    parser.add_argument('--json', help='write every number to this json file')


def progress(msg: str) -> None:
    print(f'[compare] {msg}', file=sys.stderr, flush=True)


def quiet_logs() -> None:
    """Only errors from mmengine's logger (building an optim wrapper logs every parameter's lr and warns about
    every frozen one otherwise)."""
    from mmengine.logging import MMLogger
    MMLogger.get_instance('detrx_bench_compare', log_level='ERROR')


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _leaf_datasets(ds: dict) -> List[dict]:
    """The dataset configs that read files, through wrappers (``dataset=``/``datasets=``)."""
    if 'datasets' in ds:
        return [leaf for d in ds['datasets'] for leaf in _leaf_datasets(d)]
    if 'dataset' in ds:
        return _leaf_datasets(ds['dataset'])
    return [ds]


def check_data(cfg: Config, source: str) -> None:
    """Raises ``FileNotFoundError`` naming the missing path if the train data of ``cfg`` is absent."""
    if 'train_dataloader' not in cfg:
        raise FileNotFoundError(f'{source} has no train_dataloader; pass --data CONFIG_OR_NAME with one')
    for ds in _leaf_datasets(cfg.train_dataloader.dataset):
        root = ds.get('data_root') or ''
        paths = [ds.get('ann_file')] + list((ds.get('data_prefix') or {}).values())
        for rel in paths:
            if not rel or not isinstance(rel, str):
                continue
            full = rel if osp.isabs(rel) else osp.join(root, rel)
            if not osp.exists(full):
                raise FileNotFoundError(
                    f'training data of {source} not found: {full!r} (train_dataloader.dataset data_root='
                    f'{root!r}). Pass --data CONFIG_OR_NAME to take the dataset and pipeline from a config whose '
                    f'data exists (e.g. --data conditional-detr_r18_1xb2-12e_coco128), or point data_root at '
                    f'your copy with --cfg-options train_dataloader.dataset.data_root=...')


def load_batch(cfg: Config, batch_size: Optional[int], seed: int) -> dict:
    """One collated batch from ``cfg.train_dataloader`` (no workers, the config's sampler seeded)."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dl = copy.deepcopy(cfg.train_dataloader)
    dl.num_workers = 0
    dl.persistent_workers = False
    if batch_size:
        dl.batch_size = batch_size
    loader = Runner.build_dataloader(dl, seed=seed)
    return next(iter(loader))


def build_model(cfg: Config, device: str, seed: int):
    """The model of ``cfg`` (weights from ``init_weights`` under ``seed``) and its optim wrapper."""
    from mmdet.registry import MODELS
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    seed_everything(seed)
    model = MODELS.build(copy.deepcopy(cfg.model))  # some heads write tensors into their config
    model.init_weights()
    model.to(device)
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, optim_wrapper


def preprocess(model, batch: dict, training: bool) -> Tuple[torch.Tensor, list]:
    data = model.data_preprocessor(copy.deepcopy(batch), training)
    return data['inputs'], data['data_samples']


def make_train_step(model, optim_wrapper, inputs, samples) -> Callable[[], None]:
    """Forward + losses + backward + optimizer step (what ``model.train_step`` does after preprocessing)."""

    def step() -> None:
        model.train()
        with optim_wrapper.optim_context(model):
            losses = model.loss(inputs, copy.deepcopy(samples))
        loss, _ = model.parse_losses(losses)
        optim_wrapper.update_params(loss)

    return step


def make_predict(model, inputs, samples) -> Callable[[], None]:

    def predict() -> None:
        model.eval()
        with torch.no_grad():
            model.predict(inputs, copy.deepcopy(samples))

    return predict


def synced(fn: Callable[[], None], device: str) -> Callable[[], None]:
    """``fn`` followed by a CUDA synchronize when timing on a GPU."""
    if not device.startswith('cuda'):
        return fn

    def run() -> None:
        fn()
        torch.cuda.synchronize(device)

    return run


class _TensorForward(torch.nn.Module):
    """``model(inputs, samples, mode='tensor')`` as ``forward(inputs)`` for the FLOP counter."""

    def __init__(self, model, samples):
        super().__init__()
        self.model = model
        self.samples = samples

    def forward(self, inputs):
        return self.model(inputs, self.samples, mode='tensor')


def _baddbmm_flops(inputs, outputs) -> int:
    """``baddbmm(bias, b1 (n, c, t), b2 (n, t, d))``: ``n*c*t*d`` multiply-adds, as mmengine counts ``bmm``."""
    from mmengine.analysis.jit_handles import get_shape
    n, c, t = get_shape(inputs[1])
    return n * c * t * get_shape(inputs[2])[-1]


def count_flops(model, inputs, samples) -> Tuple[Optional[float], Optional[str], List[str]]:
    """(flops, error, unsupported op names) of the tensor forward; flops is None when counting failed."""
    try:
        from mmengine.analysis import FlopAnalyzer
        model.eval()
        with torch.no_grad():
            analyzer = FlopAnalyzer(_TensorForward(model, copy.deepcopy(samples)), (inputs, ))
            analyzer.set_op_handle('aten::baddbmm', _baddbmm_flops)  # mmengine 0.10 has no handle for it
            analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            total = float(analyzer.total())
            unsupported = sorted(analyzer.unsupported_ops())
        if total <= 0:
            return None, 'the counter found no supported operators', unsupported
        return total, None, unsupported
    except Exception as e:  # noqa: BLE001  any model may fail to trace; report, do not crash
        return None, f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'[:200], []


def memory_worker(spec_file: str) -> None:
    """Runs in a fresh process: builds one model, does train steps on the saved batch, writes its peak memory."""
    with open(spec_file) as f:
        spec = json.load(f)
    if spec['threads'] > 0:
        torch.set_num_threads(spec['threads'])
    import mmdet_detrx  # noqa: F401
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    quiet_logs()
    device = spec['device']
    batch = torch.load(spec['batch'], map_location='cpu', weights_only=False)
    with open(spec['config'], 'rb') as f:
        cfg = Config(pickle.load(f))
    cuda = device.startswith('cuda')
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = reset_rss_peak()
    model, optim_wrapper = build_model(cfg, device, spec['seed'])
    inputs, samples = preprocess(model, batch, True)
    step = make_train_step(model, optim_wrapper, inputs, samples)
    for _ in range(1 + spec['steps']):
        step()
    if cuda:
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        peak = rss_peak() - base
    with open(spec['out'], 'w') as f:
        json.dump(dict(peak_bytes=int(peak), base_bytes=int(base)), f)


def measure_memory(cfg: Config, batch_file: str, args, device: str, tmp: str, tag: str) -> int:
    """Peak training memory (bytes) of ``cfg``'s model, from a fresh subprocess."""
    cfg_file = osp.join(tmp, f'model_{tag}.pkl')
    with open(cfg_file, 'wb') as f:
        pickle.dump(dict(model=cfg.model.to_dict(), optim_wrapper=cfg.optim_wrapper.to_dict(),
                         default_scope=cfg.get('default_scope', 'mmdet')), f)
    spec_file = osp.join(tmp, f'spec_{tag}.json')
    out = osp.join(tmp, f'mem_{tag}.json')
    with open(spec_file, 'w') as f:
        json.dump(dict(config=cfg_file, batch=batch_file, device=device, seed=args.seed, steps=args.memory_steps,
                       threads=args.threads, out=out), f)
    code = f'from bench.compare import memory_worker; memory_worker({spec_file!r})'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (BENCH_PARENT, os.environ.get('PYTHONPATH')) if p))
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not osp.isfile(out):
        raise RuntimeError(f'memory subprocess for model {tag} failed (exit {proc.returncode}):\n'
                           f'{proc.stderr[-3000:]}')
    with open(out) as f:
        return json.load(f)['peak_bytes']


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return b / a if a and b is not None else None


def _fmt_time(sp: dict) -> str:
    return f'{sp["median"] * 1e3:.1f} [{sp["min"] * 1e3:.1f}, {sp["max"] * 1e3:.1f}]'


def print_table(res: dict) -> None:
    m = res['metrics']
    rows = [('parameters (M)', f'{m["params"]["a"] / 1e6:.3f}', f'{m["params"]["b"] / 1e6:.3f}',
             m['params']['ratio'])]
    flop = m['flops']
    cells = []
    for k in 'ab':
        cells.append(f'{flop[k] / 1e9:.2f}' if flop[k] is not None else f'n/a ({flop[k + "_error"]})')
    rows.append(('GFLOPs (tensor forward of the batch)', cells[0], cells[1], flop['ratio']))
    for key, label in (('train_step_s', 'train step ms, median [min, max]'),
                       ('inference_s', 'inference ms, median [min, max]')):
        rows.append((label, _fmt_time(m[key]['a_spread']), _fmt_time(m[key]['b_spread']), m[key]['ratio']))
    if 'peak_memory_bytes' in m:
        mem = m['peak_memory_bytes']
        rows.append((f'peak train memory MiB ({mem["method"]})', f'{mem["a"] / 2**20:.1f}',
                     f'{mem["b"] / 2**20:.1f}', mem['ratio']))
    print(f'A = {res["config_a"]}\nB = {res["config_b"]}\n')
    print('| metric | A | B | B/A |')
    print('|---|---|---|---|')
    for label, a, b, r in rows:
        print(f'| {label} | {a} | {b} | {f"{r:.3f}" if r is not None else "n/a"} |')
    for key, label in (('train_step_s', 'train step'), ('inference_s', 'inference')):
        print(f'{label}: ', end='')
        print_noise(m[key]['noise'])


def main(args: argparse.Namespace) -> None:
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    import mmdet_detrx  # noqa: F401  registers our modules
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    quiet_logs()
    device = args.device
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'

    try:
        cfgs = {'a': load_any_config(args.config_a, {**args.cfg_options, **args.cfg_options_a}),
                'b': load_any_config(args.config_b, {**args.cfg_options, **args.cfg_options_b})}
        data_cfg = load_any_config(args.data, args.cfg_options) if args.data else cfgs['a']
        check_data(data_cfg, f'--data {args.data}' if args.data else f'config A ({args.config_a})')
    except FileNotFoundError as e:
        sys.exit(f'error: {e}')
    stripped = {}
    for k, cfg in cfgs.items():
        stripped[k] = strip_pretrained(cfg) if args.no_pretrained else []
        if stripped[k]:
            progress(f'{k.upper()}: no pretrained weights, set to None: {", ".join(stripped[k])}')

    progress('loading one batch from the train dataloader')
    batch = load_batch(data_cfg, args.batch_size, args.seed)
    models, wrappers, train_in, pred_in = {}, {}, {}, {}
    for k in 'ab':
        progress(f'building model {k.upper()}')
        models[k], wrappers[k] = build_model(cfgs[k], device, args.seed)
        train_in[k] = preprocess(models[k], batch, True)
        pred_in[k] = preprocess(models[k], batch, False)

    res = dict(config_a=args.config_a, config_b=args.config_b, data=args.data or args.config_a, device=device,
               torch=torch.__version__, threads=torch.get_num_threads(), repeats=args.repeats, warmup=args.warmup,
               seed=args.seed, pretrained_removed=stripped,
               batch=dict(size=len(batch['inputs']),
                          input_shape_a=list(train_in['a'][0].shape), input_shape_b=list(train_in['b'][0].shape)),
               metrics={})
    m = res['metrics']
    params = {k: sum(p.numel() for p in models[k].parameters()) for k in 'ab'}
    trainable = {k: sum(p.numel() for p in models[k].parameters() if p.requires_grad) for k in 'ab'}
    m['params'] = dict(unit='count', a=params['a'], b=params['b'], ratio=params['b'] / params['a'],
                       trainable_a=trainable['a'], trainable_b=trainable['b'])

    flops = {}
    for i, k in enumerate('ab'):
        progress(f'counting FLOPs {i + 1}/2 (model {k.upper()})')
        flops[k] = count_flops(models[k], *pred_in[k])
        if flops[k][1]:
            progress(f'FLOPs of {k.upper()}: n/a ({flops[k][1]})')
    m['flops'] = dict(unit='flops (one fused multiply-add = 1)', a=flops['a'][0], b=flops['b'][0],
                      ratio=_ratio(flops['a'][0], flops['b'][0]), a_error=flops['a'][1], b_error=flops['b'][1],
                      a_unsupported_ops=flops['a'][2], b_unsupported_ops=flops['b'][2])

    for key, phase, make in (('train_step_s', 'train step', lambda k: make_train_step(models[k], wrappers[k],
                                                                                      *train_in[k])),
                             ('inference_s', 'inference', lambda k: make_predict(models[k], *pred_in[k]))):
        seed_everything(args.seed)
        fns = {k: synced(make(k), device) for k in 'ab'}
        times = time_interleaved(fns, repeats=args.repeats, warmup=args.warmup,
                                 progress=lambda stage, i, n, p=phase: progress(f'{p}: {stage} {i}/{n}'))
        sp = {k: spread(times[k]) for k in 'ab'}
        m[key] = dict(unit='s', a=sp['a']['median'], b=sp['b']['median'], ratio=sp['b']['median'] / sp['a']['median'],
                      a_spread=sp['a'], b_spread=sp['b'], a_samples=times['a'], b_samples=times['b'],
                      noise=noise_report(times))

    if args.memory_repeats > 0:
        del models, wrappers
        method = ('torch.cuda.max_memory_allocated' if device.startswith('cuda') else
                  'RSS peak growth in a fresh process')
        peaks: Dict[str, List[int]] = {'a': [], 'b': []}
        with tempfile.TemporaryDirectory() as tmp:
            batch_file = osp.join(tmp, 'batch.pth')
            torch.save(batch, batch_file)
            for r in range(args.memory_repeats):
                for k in ('ab' if r % 2 == 0 else 'ba'):
                    progress(f'peak memory: repeat {r + 1}/{args.memory_repeats}, model {k.upper()} (subprocess)')
                    peaks[k].append(measure_memory(cfgs[k], batch_file, args, device, tmp, k))
        med = {k: float(np.median(peaks[k])) for k in 'ab'}
        m['peak_memory_bytes'] = dict(unit='bytes', method=method, a=med['a'], b=med['b'], ratio=_ratio(med['a'],
                                      med['b']), a_samples=peaks['a'], b_samples=peaks['b'],
                                      steps=1 + args.memory_steps)

    print_table(res)
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
        progress(f'wrote {args.json}')
    print(f'ratio={m["train_step_s"]["ratio"]:.3f}')
