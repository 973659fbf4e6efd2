"""tools/model_converters/transfer.py: pre-training -> fine-tuning and base <-> Co-DETR, checked by equality of the
transferred transformer weights, and refused when the transformer would be left at its initialisation."""
import os.path as osp

import pytest
import torch

from mmdet_detrx.utils.converters.common import ConversionError
from mmdet_detrx.utils.converters.transfer import transfer
from mmdet_detrx.utils.model_build import build_detector

from ..conftest import REPO, assert_ok, run_cmd
from ..helpers import redrawn_state

UP_PRETRAIN = 'configs/up_detr/up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py'
CO_COND = 'configs/co_detr/co-conditional-detr_lite0_1xb2-14e_bccd.py'
COND = 'configs/conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py'
METR = 'configs/metr/metr_lite0_1xb2-12e_coco128-bccd.py'
CO_DEFORMABLE = 'configs/co_detr/co-deformable-detr_lite0_1xb2-14e_bccd.py'
DINO = 'configs/dino/dino_lite0_1xb2-14e_bccd.py'


def _random_state(config):
    return redrawn_state(osp.join(REPO, config))


def _target(config):
    cfg, model = build_detector(osp.join(REPO, config))
    base_type = cfg.model.get('query_head', {}).get('type')
    return cfg.model['type'], model, base_type


@pytest.fixture(scope='module')
def up_detr_state():
    return _random_state(UP_PRETRAIN)


def _assert_transformer_transferred(source, loaded, prefix):
    keys = [k for k in source if k.startswith(('encoder.', 'decoder.'))]
    assert keys
    for key in keys:
        assert torch.equal(loaded[prefix + key], source[key]), key


def test_up_detr_into_co_detr_and_into_the_plain_base(up_detr_state):
    for config, prefix in ((CO_COND, 'query_head.'), (COND, '')):
        target_type, model, base_type = _target(config)
        report = transfer(dict(state_dict=up_detr_state), target_type, model.state_dict(), base_type=base_type)
        assert report.source_kind == 'up-detr'
        assert report.transformer_fill['decoder'][:2] == (report.transformer_fill['decoder'][1], ) * 2
        result = model.load_state_dict(report.state_dict, strict=False)
        assert not result.unexpected_keys
        loaded = model.state_dict()
        _assert_transformer_transferred(up_detr_state, loaded, prefix)
        assert torch.equal(loaded['backbone.stem.conv.weight'], up_detr_state['backbone.stem.conv.weight'])
        assert set(report.dropped) >= {k for k in up_detr_state if k.startswith('patch_encoder.')}
        if prefix:  # Co-DETR's auxiliary parts start from their initialisation and are said to
            assert all(report.left_at_init[k].startswith('Co-DETR training-only')
                       for k in report.left_at_init if k.startswith(('rpn_head.', 'roi_head.', 'query_generator.')))


def test_metr_into_co_deformable_detr():
    source = _random_state(METR)
    target_type, model, base_type = _target(CO_DEFORMABLE)
    report = transfer(source, target_type, model.state_dict(), base_type=base_type)
    assert report.source_kind == 'metr'
    assert all(filled == total > 0 for filled, total, _ in report.transformer_fill.values()), report.transformer_fill
    model.load_state_dict(report.state_dict, strict=False)
    _assert_transformer_transferred(source, model.state_dict(), 'query_head.')
    assert any('category_extractor' in k for k in report.dropped)


def test_wrong_family_is_refused():
    """A DINO (256-d) checkpoint gives nothing to the 128-d Co-Conditional-DETR transformer: refused."""
    source = _random_state(DINO)
    target_type, model, base_type = _target(CO_COND)
    with pytest.raises(ConversionError, match='gives nothing to the encoder and decoder'):
        transfer(source, target_type, model.state_dict(), base_type=base_type)


def test_cli_writes_a_load_from_checkpoint_or_refuses(tmp_path, up_detr_state):
    src = str(tmp_path / 'pretrain.pth')
    torch.save(dict(state_dict=up_detr_state, meta=dict(epoch=20)), src)
    dst = str(tmp_path / 'co_init.pth')
    proc = run_cmd(['python', 'tools/model_converters/transfer.py', src, dst, '--config', CO_COND])
    assert_ok(proc)
    assert 'decoder: ' in proc.stdout and 'left at initialisation' in proc.stdout
    _, model, _ = _target(CO_COND)
    from mmengine.runner import load_checkpoint
    load_checkpoint(model, dst, map_location='cpu')
    _assert_transformer_transferred(up_detr_state, model.state_dict(), 'query_head.')

    bad = str(tmp_path / 'dino.pth')
    torch.save(dict(state_dict=_random_state(DINO)), bad)
    refused = str(tmp_path / 'refused.pth')
    proc = run_cmd(['python', 'tools/model_converters/transfer.py', bad, refused, '--config', CO_COND])
    assert proc.returncode == 1 and 'gives nothing to the encoder' in proc.stderr
    assert not osp.exists(refused)
