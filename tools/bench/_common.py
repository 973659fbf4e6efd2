"""Small timing helpers shared by the benchmark subcommands."""
import importlib.util
import os.path as osp
import statistics
import time
from typing import Callable, Dict, List, Optional


def time_interleaved(fns: Dict[str, Callable[[], None]], repeats: int = 10, warmup: int = 2,
                     progress: Optional[Callable[[str, int, int], None]] = None) -> Dict[str, List[float]]:
    """Times several callables in an interleaved order so machine noise hits them alike.

    Args:
        fns: name -> zero-argument callable.
        repeats: timed rounds; each round calls every callable once.
        warmup: untimed rounds first.
        progress: optional ``progress(stage, i, n)`` called before each round, ``stage`` being
            ``'warmup'`` or ``'repeat'`` and ``i`` counting from 1.

    Returns:
        name -> list of wall times in seconds, one per round.
    """
    from mmdet_detrx.utils.smoke import smoke_enabled
    if smoke_enabled():  # DETRX_SMOKE=1: one round, no warm-up (the documented commands run in the tests)
        repeats, warmup = 1, 0
    for w in range(warmup):
        if progress is not None:
            progress('warmup', w + 1, warmup)
        for fn in fns.values():
            fn()
    times: Dict[str, List[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        if progress is not None:
            progress('repeat', r + 1, repeats)
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def summarize(times: Dict[str, List[float]], ours: str, ref: str) -> float:
    """Prints a markdown table of medians/spreads and returns median(ours)/median(ref)."""
    print('| impl | median ms | min ms | max ms |')
    print('|---|---|---|---|')
    for name, ts in times.items():
        print(f'| {name} | {statistics.median(ts) * 1e3:.2f} | {min(ts) * 1e3:.2f} | {max(ts) * 1e3:.2f} |')
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


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--repeats``: a median of no sample is no number)."""
    import argparse
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {value}')
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (``--warmup``)."""
    import argparse
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be >= 0, got {value}')
    return value
