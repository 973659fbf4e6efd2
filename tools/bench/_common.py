"""Small helpers shared by the benchmark subcommands: interleaved timing that records the machine's load, medians
with their spread, warnings when a number should not be trusted (busy machine, wide spread), and the peak
resident memory of a few steps measured in a fresh process per implementation."""
import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import os.path as osp
import statistics
import time
from typing import Callable, Dict, List, Optional, Tuple

# the machine counts as busy when, before a timing, its 1-minute load average exceeds this share of its cores (other
# work competes for the cores the benchmark uses: medians shift and spreads widen)
BUSY_LOAD_PER_CORE = 0.5
# a timing counts as noisy when its interquartile range exceeds this share of its median
WIDE_SPREAD = 0.15


class Timings(dict):
    """name -> wall times in seconds (one per round), with the 1/5/15-minute load averages before and after."""

    def __init__(self, *args, load_before: Tuple[float, ...] = (), load_after: Tuple[float, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.load_before = tuple(load_before)
        self.load_after = tuple(load_after)


def load_average() -> Tuple[float, ...]:
    """``os.getloadavg()`` (1, 5, 15 minutes), or ``()`` where the platform has none."""
    try:
        return tuple(round(v, 2) for v in os.getloadavg())
    except (AttributeError, OSError):
        return ()


def noise_report(times: Dict[str, List[float]]) -> dict:
    """How far ``times`` can be trusted: the load around the run, each timing's relative spread, and warnings.

    Args:
        times: name -> seconds; a :class:`Timings` also gives the load averages.

    Returns:
        dict: ``cpus``, ``load_before`` / ``load_after`` (1/5/15-minute averages, empty if unknown),
        ``relative_spread`` (name -> interquartile range / median), ``warnings`` (list of sentences; empty when the
        numbers look trustworthy) and ``noisy`` (bool).
    """
    cpus = os.cpu_count() or 1
    before, after = getattr(times, 'load_before', ()), getattr(times, 'load_after', ())
    rel = {}
    for name, values in times.items():
        sp = spread(values)
        rel[name] = (sp['q3'] - sp['q1']) / sp['median'] if sp['median'] > 0 else 0.0
    warnings = []
    if before and before[0] > BUSY_LOAD_PER_CORE * cpus:
        warnings.append(f'machine busy: 1-minute load average {before[0]:.2f} on {cpus} cores before the timing '
                        f'(over {BUSY_LOAD_PER_CORE:.0%} of the cores): other work competed, rerun on a quiet machine')
    for name, value in rel.items():
        if len(times[name]) >= 4 and value > WIDE_SPREAD:
            warnings.append(f'wide spread: {name} interquartile range is {value:.0%} of its median (over '
                            f'{WIDE_SPREAD:.0%}): more repeats or a quieter machine')
    if any(len(v) < 4 for v in times.values()):
        warnings.append('fewer than 4 repeats: no spread to judge the numbers by')
    return dict(cpus=cpus, load_before=list(before), load_after=list(after),
                relative_spread={k: round(v, 4) for k, v in rel.items()}, warnings=warnings, noisy=bool(warnings))


def print_noise(report: dict) -> None:
    """The load line and every warning of a :func:`noise_report`, under a table."""
    load = report['load_before']
    print(f'load average before (1/5/15 min): {"/".join(f"{v:.2f}" for v in load) or "n/a"} on {report["cpus"]} '
          f'cores; noisy={"yes" if report["noisy"] else "no"}')
    for warning in report['warnings']:
        print(f'WARNING: {warning}')


def time_interleaved(fns: Dict[str, Callable[[], None]], repeats: int = 10, warmup: int = 2,
                     progress: Optional[Callable[[str, int, int], None]] = None, pause: float = 0.0) -> Timings:
    """Times several callables in an interleaved order so machine noise hits them alike.

    Args:
        fns: name -> zero-argument callable.
        repeats: timed rounds; each round calls every callable once.
        warmup: untimed rounds first.
        progress: optional ``progress(stage, i, n)`` called before each round, ``stage`` being
            ``'warmup'`` or ``'repeat'`` and ``i`` counting from 1.
        pause: seconds of sleep before each timed call, so that the worker threads of the previous callable's
            runtime (torch's OpenMP pool, onnxruntime's pool) have stopped spinning and do not compete with the
            next one for the cores.

    Returns:
        Timings: name -> list of wall times in seconds, one per round, with the load averages before and after.
    """
    from mmdet_detrx.utils.smoke import smoke_enabled
    if smoke_enabled():  # DETRX_SMOKE=1: one round, no warm-up (the documented commands run in the tests)
        repeats, warmup = 1, 0
    load_before = load_average()
    for w in range(warmup):
        if progress is not None:
            progress('warmup', w + 1, warmup)
        for fn in fns.values():
            fn()
    times = Timings({name: [] for name in fns}, load_before=load_before)
    names = list(fns)
    for r in range(repeats):
        if progress is not None:
            progress('repeat', r + 1, repeats)
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            if pause:
                time.sleep(pause)
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    times.load_after = load_average()
    return times


def summarize(times: Dict[str, List[float]], ours: str, ref: str) -> float:
    """Prints a markdown table of medians / spreads, the load line and the noise warnings (:func:`noise_report`);
    returns median(ours) / median(ref)."""
    report = noise_report(times)
    print('| impl | median ms | min ms | max ms | IQR / median |')
    print('|---|---|---|---|---|')
    for name, ts in times.items():
        print(f'| {name} | {statistics.median(ts) * 1e3:.2f} | {min(ts) * 1e3:.2f} | {max(ts) * 1e3:.2f} | '
              f'{report["relative_spread"][name]:.0%} |')
    print_noise(report)
    return statistics.median(times[ours]) / statistics.median(times[ref])


def spread(values: List[float]) -> Dict[str, float]:
    """Median, min, max and the quartiles (``statistics.quantiles``, inclusive) of ``values``."""
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method='inclusive')
    else:
        q1 = q3 = values[0]
    return dict(median=statistics.median(values), min=min(values), max=max(values), q1=q1, q3=q3)


def resolve_any_config(config: str) -> str:
    """Path of a config given as a path, one of our config names, or ``<package>::<relative path>``.

    ``mmdet::detr/detr_r50_8xb2-150e_coco.py`` is looked up in the installed package's ``.mim/configs``
    folder (mmengine's ``Config.fromfile`` accepts that scope only inside ``_base_``).

    Raises:
        FileNotFoundError: the config does not exist (the message names it).
    """
    if '::' in config:
        scope, _, rel = config.partition('::')
        spec = importlib.util.find_spec(scope)
        if spec is None or spec.origin is None:
            raise FileNotFoundError(f'config {config!r}: package {scope!r} is not installed')
        path = osp.join(osp.dirname(spec.origin), '.mim', 'configs', rel if rel.endswith('.py') else rel + '.py')
        if not osp.isfile(path):
            raise FileNotFoundError(f'config {config!r} not found (looked for {path})')
        return path
    from mmdet_detrx.utils.cli import resolve_config
    return resolve_config(config)


def load_any_config(config: str, cfg_options: Optional[dict] = None):
    """``Config.fromfile`` of :func:`resolve_any_config` plus ``--cfg-options``; sets ``default_scope`` of
    ``<package>::`` configs to the package when they have none."""
    from mmengine.config import Config
    cfg = Config.fromfile(resolve_any_config(config))
    if '::' in config and cfg.get('default_scope') is None:
        cfg.default_scope = config.partition('::')[0]
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    from mmdet_detrx.utils.smoke import apply_smoke
    apply_smoke(cfg)
    return cfg


def _at_least(text: str, cast: Callable[[str], float], minimum: float):
    import argparse
    value = cast(text)
    if value < minimum:
        raise argparse.ArgumentTypeError(f'must be >= {minimum}, got {value}')
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--repeats``: a median of no sample is no number)."""
    return _at_least(text, int, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (``--warmup``)."""
    return _at_least(text, int, 0)


def non_negative_float(text: str) -> float:
    """argparse type: a number >= 0 (``--pause`` seconds)."""
    return _at_least(text, float, 0.)


def import_package_from(directory: str, name: str):
    """Imports the package in ``directory`` (its ``__init__.py``, relative imports inside it) as module ``name``,
    without touching ``sys.path``; the module is registered in ``sys.modules``.

    Raises:
        FileNotFoundError: ``directory`` has no ``__init__.py``.
    """
    init = os.path.join(directory, '__init__.py')
    if not os.path.isfile(init):
        raise FileNotFoundError(f'{directory} is not a Python package (no __init__.py)')
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[directory])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


# ---------------------------------------------------------------- peak resident memory
def _proc_status_kib(field: str) -> Optional[int]:
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_rss_peak() -> int:
    """Resets the process's resident-set high-water mark where Linux allows it and returns the baseline in
    bytes: the current RSS after a reset, else the high-water mark so far (``ru_maxrss``)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # 5: reset the peak RSS (VmHWM) to the current RSS, Linux >= 4.0
        rss = _proc_status_kib('VmRSS')
        if rss is not None:
            return rss * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss_peak() -> int:
    """The resident-set high-water mark in bytes (``VmHWM``, else ``ru_maxrss``)."""
    hwm = _proc_status_kib('VmHWM')
    return hwm * 1024 if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def release_free_memory() -> bool:
    """Returns the allocator's free memory to the OS (glibc ``malloc_trim(0)``), so that what a step allocates next
    shows in the RSS instead of reusing pages that earlier work (building the model) freed; False where there is
    no glibc."""
    try:
        import ctypes
        ctypes.CDLL('libc.so.6').malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def step_memory(step: Callable[[], None], steps: int) -> dict:
    """Peak resident memory of ``steps`` calls of ``step`` in this process: ``rss_before_mib`` (after a garbage
    collection and :func:`release_free_memory`, where the peak counter is reset), ``peak_mib`` and ``steps_mib`` =
    their difference (what the steps allocate: activations, gradients, optimizer state, temporaries)."""
    import gc
    gc.collect()
    release_free_memory()
    before = reset_rss_peak()
    for _ in range(steps):
        step()
    peak = rss_peak()
    return dict(rss_before_mib=before / 2**20, peak_mib=peak / 2**20, steps_mib=(peak - before) / 2**20)


def print_worker_memory(step: Callable[[], None], steps: int, impl: str) -> None:
    """A memory worker's result: :func:`step_memory` of ``step`` as the JSON line
    :func:`memory_in_subprocesses` reads."""
    print(json.dumps(dict(step_memory(step, steps), impl=impl)))


def memory_in_subprocesses(subcommand: str, argv: List[str], impls: Tuple[str, ...] = ('ours', 'mmdet')) -> dict:
    """Runs ``tools/benchmark.py <subcommand> <argv> --memory-worker <impl>`` once per implementation, each in a
    fresh process (so one's allocations cannot hide the other's), and returns impl -> the JSON its last stdout line
    holds (:func:`step_memory`)."""
    script = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'benchmark.py')
    results = {}
    for impl in impls:
        proc = subprocess.run([sys.executable, script, subcommand, *argv, '--memory-worker', impl],
                              capture_output=True, text=True, env=dict(os.environ))
        if proc.returncode != 0:
            raise SystemExit(f'memory worker {impl} of {subcommand} failed:\n{proc.stderr[-3000:]}')
        results[impl] = json.loads(proc.stdout.strip().splitlines()[-1])
    return results


def forwarded_argv(args, skip: Tuple[str, ...] = ()) -> List[str]:
    """This run's options as a command line for its memory workers (without the subcommand, the worker choice and
    ``skip``); flags (booleans) appear only when set."""
    argv = []
    for key, value in vars(args).items():
        if key in ('command', 'memory_worker', *skip):
            continue
        flag = f'--{key.replace("_", "-")}'
        if isinstance(value, bool):
            argv += [flag] if value else []
        elif isinstance(value, (list, tuple)):
            argv += [flag, *map(str, value)] if value else []
        elif value is not None:
            argv += [flag, str(value)]
    return argv


def add_memory_arguments(parser, impls: Tuple[str, ...], what: str = 'steps') -> None:
    """``--mem-steps`` (0: skip) and the hidden ``--memory-worker`` of a subcommand measuring peak memory."""
    parser.add_argument('--mem-steps', type=non_negative_int, default=2,
                        help=f'{what} in the fresh peak-memory process of each implementation (0: skip memory)')
    parser.add_argument('--memory-worker', choices=impls, help=argparse.SUPPRESS)


def print_memory(results: dict, ours: str = 'ours', ref: str = 'mmdet', what: str = 'step') -> float:
    """Prints the peak-memory rows of :func:`memory_in_subprocesses` and returns ours / ref of the step growth."""
    print(f'| peak RSS of the {what}s, MiB | {ours} | {ref} | ratio |')
    print('|---|---|---|---|')
    for key, label in (('steps_mib', f'growth during the {what}s'), ('peak_mib', 'process peak')):
        a, b = results[ours][key], results[ref][key]
        print(f'| {label} | {a:.1f} | {b:.1f} | {a / b if b else float("nan"):.3f} |')
    ratio = results[ours]['steps_mib'] / results[ref]['steps_mib'] if results[ref]['steps_mib'] else float('nan')
    print(f'memory_ratio={ratio:.3f}')
    return ratio


def make_train_step(model, inputs, samples: list, seed: Optional[int] = None) -> Callable[[], None]:
    """A zero-argument full training step of ``model`` on one fixed batch: forward and losses (mmengine's
    ``parse_losses`` sum, the keys with 'loss'), backward, gradient clipping at 0.1 and an AdamW step (lr 1e-4,
    weight decay 1e-4), as the configs train. ``seed`` (optional) re-seeds torch before every step (denoising
    noise, samplers). The three parts are labelled ``forward+loss``, ``backward`` and ``optimizer`` for
    ``--profile`` (``torch.profiler.record_function``; free when no profiler runs)."""
    import copy

    import torch
    from torch.profiler import record_function
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4, weight_decay=1e-4)

    def step() -> None:
        if seed is not None:
            torch.manual_seed(seed)
        with record_function('forward+loss'):
            total, _ = model.parse_losses(model.loss(inputs, copy.deepcopy(samples)))
        with record_function('backward'):
            optimizer.zero_grad(set_to_none=True)
            total.backward()
        with record_function('optimizer'):
            torch.nn.utils.clip_grad_norm_(params, max_norm=0.1)
            optimizer.step()

    return step
