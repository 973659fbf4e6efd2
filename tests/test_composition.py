"""The composition matrix (mmdet_detrx/utils/composition.py, docs/composition.md): every cell with a config trains
one iteration, and every pre-training -> fine-tuning transfer (plain or Co-DETR) loads the transformer: each
encoder / decoder tensor it fills equals the pre-trained one, and it fills the whole transformer where the two
models share its architecture."""
import math
import os.path as osp

import pytest
import torch

from mmdet_detrx.utils.composition import BASES, PRETRAININGS, TRAININGS, cells
from mmdet_detrx.utils.converters.transfer import base_key, transfer
from mmdet_detrx.utils.model_build import build_detector

from .conftest import REPO
from .helpers import redrawn_state, train_batch

CELLS = cells()
TRANSFERS = [c for c in CELLS if c.pretrain_config]
# cells whose fine-tuning model has the pre-training's own decoder (the rest, METR into dense-attention detectors,
# get the FFNs and norms only: METR's deformable attention has no counterpart there)
FULL = {('up-detr', base) for base in BASES} | {('metr', 'Deformable DETR')}


def _ids(items):
    return [c.name.replace(' ', '') for c in items]


def test_matrix_names_every_cell_once():
    names = [(c.pretraining, c.base, c.training) for c in cells()]
    assert sorted(names) == sorted((p, b, t) for p in PRETRAININGS for b in BASES for t in TRAININGS)
    for cell in cells():
        assert (cell.pretrain_config is None) == (cell.pretraining == 'scratch'), cell.name
        for path in (cell.config, cell.pretrain_config):
            assert path is None or osp.isfile(osp.join(REPO, path)), path
        if cell.config and cell.training == 'Co-DETR':
            assert osp.basename(cell.config).startswith('co-')


@pytest.mark.parametrize('cell', CELLS, ids=_ids(CELLS))
def test_cell_trains_one_iteration(cell):
    torch.manual_seed(0)
    cfg, model = build_detector(osp.join(REPO, cell.config))
    assert (cfg.model['type'] == 'DetrxCoDETR') == (cell.training == 'Co-DETR')
    if cell.pretrain_config:
        assert cfg.load_from and cfg.load_from.startswith('work_dirs/')
    model.train()
    data = model.data_preprocessor(train_batch(cfg), True)
    loss, log_vars = model.parse_losses(model(**data, mode='loss'))
    assert math.isfinite(loss.item()) and loss.item() > 0, log_vars
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


_PRETRAINED = {}


def _pretrained_state(config):
    """A pre-training model of ``config`` with every parameter redrawn (a stand-in for its checkpoint)."""
    if config not in _PRETRAINED:
        _PRETRAINED[config] = redrawn_state(osp.join(REPO, config))
    return _PRETRAINED[config]


@pytest.mark.parametrize('cell', TRANSFERS, ids=_ids(TRANSFERS))
def test_transfer_loads_the_pretrained_transformer(cell):
    source = _pretrained_state(cell.pretrain_config)
    cfg, model = build_detector(osp.join(REPO, cell.config))
    base_type = cfg.model['query_head']['type'] if cfg.model['type'] == 'DetrxCoDETR' else None
    report = transfer(dict(state_dict=source), cfg.model['type'], model.state_dict(), base_type=base_type)
    assert report.source_kind == cell.pretraining
    result = model.load_state_dict(report.state_dict, strict=False)
    assert not result.unexpected_keys
    loaded = model.state_dict()
    name_in_source = base_key if base_type else (lambda k: k)
    transformer = [k for k in report.state_dict if name_in_source(k).startswith(('encoder.', 'decoder.'))]
    assert transformer
    for key in transformer:
        assert torch.equal(loaded[key], source[name_in_source(key)]), key
    if (cell.pretraining, cell.base) in FULL:
        assert all(filled == total for filled, total, _ in report.transformer_fill.values()), report.transformer_fill
    else:  # FFNs and norms of every layer, at least
        assert all(fraction >= 0.3 for _, _, fraction in report.transformer_fill.values()), report.transformer_fill
