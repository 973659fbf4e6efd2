"""Where a training step spends its time: ``torch.profiler`` over a few steps of each implementation, reported as
a stage table (the detector's parts, matching, backward, optimizer) and a per-operator table, side by side.

Stages are labelled without touching the models' code: each direct child module's ``forward`` (backbone, neck,
encoder, decoder, ...), the detector's (and a child detector's) ``forward_encoder`` / ``pre_decoder`` /
``forward_decoder``, each head's ``loss`` / ``loss_by_feat`` and its assigner's ``assign`` / ``batch_assign`` are
wrapped, for the profiled steps only, in a ``torch.profiler.record_function`` of that name;
the step itself labels ``forward+loss``, ``backward`` and ``optimizer`` (``_common.make_train_step``). Stage times are
inclusive (a head's ``loss`` contains its matching) and per step (total over the profiled steps / steps).
"""
import argparse
import time
from contextlib import ExitStack, contextmanager
from typing import Callable, Dict, Iterator, List, Tuple

from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

HEAD_METHODS = ('loss', 'loss_by_feat')
DETECTOR_METHODS = ('forward_encoder', 'pre_decoder', 'forward_decoder')
ASSIGNER_METHODS = ('assign', 'batch_assign')
STEP_LABELS = ('forward+loss', 'backward', 'optimizer')


def add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--profile', type=int, default=0, metavar='STEPS',
                        help='instead of timing, profile STEPS training steps of each implementation with '
                        'torch.profiler and print a stage table and the top operators (self CPU time per step)')
    parser.add_argument('--profile-top', type=int, default=25, help='operators listed by --profile')


def _stage_targets(model: nn.Module) -> List[Tuple[str, object, str]]:
    """(label, object, method name) for every stage of ``model`` that :func:`labelled_stages` wraps."""
    targets = [(method, model, method) for method in DETECTOR_METHODS if callable(getattr(model, method, None))]
    for name, child in model.named_children():
        if name == 'data_preprocessor':
            continue
        targets.append((name, child, 'forward'))
        heads = child if isinstance(child, nn.ModuleList) else [child]
        for i, head in enumerate(heads):
            label = f'{name}.{i}' if isinstance(child, nn.ModuleList) else name
            for method in HEAD_METHODS + DETECTOR_METHODS:
                if callable(getattr(head, method, None)) and not isinstance(head, nn.ModuleList):
                    targets.append((f'{label}.{method}', head, method))
            for attr in ('assigner', 'bbox_assigner'):
                assigner = getattr(head, attr, None)
                for method in ASSIGNER_METHODS:
                    if assigner is not None and callable(getattr(assigner, method, None)):
                        targets.append((f'{label}.{attr}.{method}', assigner, method))
            if hasattr(head, 'bbox_roi_extractor') and getattr(head, 'bbox_head', None) is not None:
                targets.append((f'{label}.bbox_roi_extractor', head.bbox_roi_extractor, 'forward'))
    return targets


@contextmanager
def labelled_stages(model: nn.Module) -> Iterator[List[str]]:
    """Wraps the stages of ``model`` (:func:`_stage_targets`) in ``record_function`` labels; yields the labels.

    The wrappers are instance attributes, removed on exit (the model is unchanged afterwards).
    """
    labels = []
    wrapped = []
    for label, obj, method in _stage_targets(model):
        original = getattr(obj, method)

        def wrapper(*args, __original=original, __label=label, **kwargs):
            with record_function(__label):
                return __original(*args, **kwargs)

        had_own = method in vars(obj)
        previous = vars(obj).get(method)
        setattr(obj, method, wrapper)
        wrapped.append((obj, method, had_own, previous))
        labels.append(label)
    try:
        yield labels
    finally:
        for obj, method, had_own, previous in reversed(wrapped):
            if had_own:
                setattr(obj, method, previous)
            else:
                delattr(obj, method)


def profile_steps(models: Dict[str, nn.Module], steps: Dict[str, Callable[[], None]], n: int
                  ) -> Dict[str, Tuple[Dict[str, float], Dict[str, float], float]]:
    """Profiles ``n`` calls of each ``steps[name]`` (after one untimed call each), interleaved (one profiler session
    per call, implementations alternating) so that machine noise hits all alike.

    Returns:
        dict: name -> (stage label -> CPU ms per step, operator -> self CPU ms per step, wall ms per step).
    """
    for step in steps.values():
        step()  # warm-up outside the profiler
    results = {name: ({}, {}, 0.0) for name in steps}
    names = list(steps)
    for i in range(n):
        for name in (names if i % 2 == 0 else names[::-1]):
            stages, ops, wall = results[name]
            with ExitStack() as stack:
                labels = stack.enter_context(labelled_stages(models[name]))
                prof = stack.enter_context(profile(activities=[ProfilerActivity.CPU]))
                t0 = time.perf_counter()
                steps[name]()
                wall += (time.perf_counter() - t0) * 1000 / n
            known = set(labels) | set(STEP_LABELS)
            for event in prof.key_averages():
                if event.key in known:
                    stages[event.key] = stages.get(event.key, 0.0) + event.cpu_time_total / 1000 / n
                else:
                    ops[event.key] = ops.get(event.key, 0.0) + event.self_cpu_time_total / 1000 / n
            results[name] = (stages, ops, wall)
    return results


def print_profile(results: Dict[str, Tuple[Dict[str, float], Dict[str, float], float]], top: int) -> None:
    """Markdown tables of :func:`profile_steps`: stages (in first-seen order) and the ``top`` operators by the
    largest self time of any implementation, ms per step, with each one's share of its step."""
    names = list(results)
    walls = {n: results[n][2] for n in names}
    print('\nstages (inclusive CPU ms per step; share of the profiled step wall time)\n')
    print('| stage | ' + ' | '.join(names) + ' |')
    print('|---' * (len(names) + 1) + '|')
    order = []
    for n in names:
        for stage in list(STEP_LABELS) + sorted(results[n][0]):
            if stage in results[n][0] and stage not in order:
                order.append(stage)
    for stage in order:
        cells = []
        for n in names:
            v = results[n][0].get(stage)
            cells.append('-' if v is None else f'{v:.1f} ({v / walls[n]:.0%})')
        print(f'| {stage} | ' + ' | '.join(cells) + ' |')
    print('| step (wall) | ' + ' | '.join(f'{walls[n]:.1f}' for n in names) + ' |')
    print(f'\ntop {top} operators (self CPU ms per step)\n')
    print('| operator | ' + ' | '.join(names) + ' |')
    print('|---' * (len(names) + 1) + '|')
    keys = sorted({k for n in names for k in results[n][1]},
                  key=lambda k: -max(results[n][1].get(k, 0.0) for n in names))[:top]
    for key in keys:
        print(f'| `{key}` | ' + ' | '.join(f'{results[n][1].get(key, 0.0):.1f}' for n in names) + ' |')
