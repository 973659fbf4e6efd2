"""Golden outputs of every shipped small config: the loss dict and the predictions of its model on a fixed batch,
with parameters drawn from a fixed generator per parameter *name* (not per construction order), so that a refactor
that keeps behaviour keeps these numbers exactly (tests/test_golden_outputs.py compares them).

    python -m tests.golden   # (re)writes tests/data/golden_outputs.json: only when behaviour changes on purpose

A config's model is built without pre-trained weights (`build_detector`), dropout is off, the batch is the first
two images of the config's own training pipeline resized to 160 x 128 (`tests.helpers.train_batch`).
"""
import glob
import json
import os.path as osp
import zlib
from typing import Dict, List

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
GOLDEN_FILE = osp.join(REPO, 'tests', 'data', 'golden_outputs.json')
TOP_K = 5


def small_configs() -> List[str]:
    """Every shipped config that trains on one machine (``1xb`` in its name), relative to the repository."""
    paths = glob.glob(osp.join(REPO, 'configs', '**', '*_1xb*.py'), recursive=True)
    return sorted(osp.relpath(p, REPO) for p in paths)


def draw_parameters(model: torch.nn.Module) -> None:
    """Every parameter redrawn from a generator seeded by its name: weights N(0, 1/fan_in), vectors that were not
    constant N(0, 0.02^2), constant vectors (norm scales, zero biases) kept."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / p[0].numel() ** 0.5)
            elif p.numel() > 1 and not torch.all(p == p.flatten()[0]):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.02)


def _no_dropout(model: torch.nn.Module) -> None:
    """Every dropout off: ``nn.Dropout``, our ``FastDropout`` and the attentions' float ``attn_drop`` /
    ``proj_drop`` (so the outputs do not depend on how a dropout draws its random numbers)."""
    from mmdet_detrx.models.layers.fast_dropout import FastDropout
    for m in model.modules():
        if isinstance(m, (torch.nn.Dropout, FastDropout)):
            m.p = 0.0
        for name in ('attn_drop', 'proj_drop'):
            if isinstance(getattr(m, name, None), float):
                setattr(m, name, 0.0)


def _round(x: float) -> float:
    return float(f'{x:.6g}')


def compute(config: str) -> Dict[str, dict]:
    """``{'loss': {key: value}, 'predict': [{'scores': [...], 'bboxes': [[...]], 'labels': [...]}, ...]}`` of the
    config's model on its fixed batch (top ``TOP_K`` detections per image)."""
    from mmdet_detrx.utils.model_build import build_detector

    from .helpers import train_batch
    torch.manual_seed(0)
    cfg, model = build_detector(osp.join(REPO, config))
    draw_parameters(model)
    _no_dropout(model)
    batch = train_batch(cfg)
    model.train()
    torch.manual_seed(0)
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    _, log_vars = model.parse_losses(losses)
    out = dict(loss={k: _round(float(v)) for k, v in sorted(log_vars.items())})
    model.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        results = model(**data, mode='predict')
    out['predict'] = []
    for res in results:
        pred = res.pred_instances
        order = pred.scores.argsort(descending=True)[:TOP_K]
        out['predict'].append(dict(scores=[_round(v) for v in pred.scores[order].tolist()],
                                   labels=pred.labels[order].tolist(),
                                   bboxes=[[_round(v) for v in box] for box in pred.bboxes[order].tolist()]))
    return out


def main() -> None:
    torch.set_num_threads(1)  # as the tests run (tests/conftest.py): near-ties (proposal order) follow the threads
    golden = {}
    for config in small_configs():
        golden[config] = compute(config)
        print(config, golden[config]['loss'].get('loss'), flush=True)
    with open(GOLDEN_FILE, 'w') as f:
        json.dump(golden, f, indent=1, sort_keys=True)
    print(f'wrote {GOLDEN_FILE} ({len(golden)} configs)')


if __name__ == '__main__':
    main()
