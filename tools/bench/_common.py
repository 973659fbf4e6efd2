"""Small timing helpers shared by the benchmark subcommands."""
import statistics
import time
from typing import Callable, Dict, List


def time_interleaved(fns: Dict[str, Callable[[], None]], repeats: int = 10, warmup: int = 2) -> Dict[str, List[float]]:
    """Times several callables in an interleaved order so machine noise hits them alike.

    Args:
        fns: name -> zero-argument callable.
        repeats: timed rounds; each round calls every callable once.
        warmup: untimed rounds first.

    Returns:
        name -> list of wall times in seconds, one per round.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: Dict[str, List[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
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
