"""tools/one_shot_demo.py and tools/analysis/draw_query_patches.py with tiny UP-DETR models saved to temporary
checkpoints, on vendored coco128 images."""
import os.path as osp
import sys

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config

import mmdet_detrx  # noqa: F401
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from tests.conftest import REPO, assert_ok, run_cmd

from tools import one_shot_demo
from tools.analysis import draw_query_patches as dqp

IMGS = osp.join(REPO, 'data', 'coco128', 'train2017')
TARGET = osp.join(IMGS, '000000000109.jpg')  # has a dog
QUERY_SRC = osp.join(IMGS, '000000000307.jpg')  # another dog image
ONE_SHOT = osp.join(REPO, 'configs', 'up_detr', 'one-shot_up-conditional-detr_r18_1xb2-12e_coco128.py')
PRETRAIN = osp.join(REPO, 'configs', 'up_detr', 'up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py')
TINY_MODEL = """
d = 32
attn = dict(embed_dims=d, num_heads=4, attn_drop=0.0, proj_drop=0.0)
ffn = dict(embed_dims=d, feedforward_channels=64, ffn_drop=0.0)
model = dict(
    num_queries={nq}, backbone=dict(init_cfg=None), neck=dict(out_channels=d),
    encoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=dict(embed_dims=d, num_heads=4, dropout=0.0),
                                              ffn_cfg=ffn)),
    decoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn)),
    positional_encoding=dict(num_feats=d // 2), bbox_head=dict(embed_dims=d), test_cfg=dict(max_per_img={nq}))
load_from = None
"""


@pytest.fixture(scope='module', autouse=True)
def mmdet_scope():
    register_all_modules(init_default_scope=True)


def tiny(tmp_path, base, name, num_queries):
    """A tiny variant of ``base`` (1+1 layers, 32-d, random ResNet-18) and a checkpoint of it."""
    cfg_path = tmp_path / f'{name}.py'
    cfg_path.write_text(f'_base_ = {base!r}\n' + TINY_MODEL.format(nq=num_queries))
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(cfg_path)).model)
    ckpt = tmp_path / f'{name}.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': {'classes': ('object', )}}}, ckpt)
    return str(cfg_path), str(ckpt)


@pytest.fixture(scope='module')
def one_shot_model(tmp_path_factory):
    return tiny(tmp_path_factory.mktemp('one_shot'), ONE_SHOT, 'tiny_one_shot', 10)


@pytest.fixture(scope='module')
def pretrain_model(tmp_path_factory):
    return tiny(tmp_path_factory.mktemp('pretrain'), PRETRAIN, 'tiny_pretrain', 20)


@pytest.fixture(scope='module')
def query_jpg(tmp_path_factory):
    img = mmcv.imread(QUERY_SRC)
    path = str(tmp_path_factory.mktemp('query') / 'dog.png')  # lossless: the inset check compares pixels
    mmcv.imwrite(img[200:360, 400:570], path)
    return path


# ------------------------------------------------------------------------------------------------------- demo
def test_demo_cli_writes_the_found_boxes_and_the_query_inset(tmp_path, one_shot_model, query_jpg):
    cfg, ckpt = one_shot_model
    out = tmp_path / 'found.png'
    proc = run_cmd([sys.executable, 'tools/one_shot_demo.py', cfg, ckpt, '--query', query_jpg, '--image', TARGET,
                    '--out', str(out), '--score-thr', '0', '--max-boxes', '3'])
    assert_ok(proc)
    assert f'{out}: 3 boxes' in proc.stdout
    assert out.stat().st_size > 0
    drawn, target = mmcv.imread(str(out)), mmcv.imread(TARGET)
    assert drawn.shape == target.shape
    # top-left: the query inset (a quarter of the shorter side, aspect kept), framed
    query = mmcv.imread(query_jpg)
    side = min(target.shape[:2]) // 4
    scale = side / max(query.shape[:2])
    inset = mmcv.imresize(query, (round(query.shape[1] * scale), round(query.shape[0] * scale)))
    ih, iw = inset.shape[:2]
    assert np.abs(drawn[1:1 + ih, 1:1 + iw].astype(int) - inset.astype(int)).max() <= 1
    assert (drawn[0, 0] == one_shot_demo.QUERY_COLOUR).all()
    assert (drawn != target).any(2).sum() > (ih * iw) + 100  # boxes drawn besides the inset


def test_demo_predictions_and_threshold(tmp_path, one_shot_model, query_jpg):
    cfg, ckpt = one_shot_model
    _, _, pred = one_shot_demo.one_shot_detect(cfg, ckpt, query_jpg, TARGET)
    assert pred.bboxes.shape == (10, 4) and (pred.labels == 0).all()
    h, w = mmcv.imread(TARGET).shape[:2]
    assert pred.bboxes[:, 2].max() <= w + 1e-3 and pred.bboxes[:, 3].max() <= h + 1e-3  # original pixels
    thr = float(pred.scores.max()) + 1e-3
    assert one_shot_demo.run_demo(cfg, ckpt, query_jpg, TARGET, str(tmp_path / 'none.png'), score_thr=thr) == 0
    assert osp.getsize(tmp_path / 'none.png') > 0


def test_demo_errors(tmp_path, one_shot_model, query_jpg):
    cfg, ckpt = one_shot_model
    with pytest.raises(FileNotFoundError, match="query image not found: '.*nope.jpg'"):
        one_shot_demo.run_demo(cfg, ckpt, str(tmp_path / 'nope.jpg'), TARGET, str(tmp_path / 'x.png'))
    with pytest.raises(FileNotFoundError, match="target image not found"):
        one_shot_demo.run_demo(cfg, ckpt, query_jpg, str(tmp_path / 'nope.jpg'), str(tmp_path / 'x.png'))
    with pytest.raises(FileNotFoundError, match='checkpoint file not found'):
        one_shot_demo.run_demo(cfg, str(tmp_path / 'no.pth'), query_jpg, TARGET, str(tmp_path / 'x.png'))
    with pytest.raises(ValueError, match='must be a OneShotEpisodeDataset'):
        one_shot_demo.run_demo(PRETRAIN, ckpt, query_jpg, TARGET, str(tmp_path / 'x.png'))


# ------------------------------------------------------------------------------------------- draw query patches
def test_draw_patches_without_checkpoint(tmp_path):
    out = tmp_path / 'patches.png'
    result = dqp.draw_query_patches(PRETRAIN, TARGET, str(out), seed=3)
    boxes = result['patch_boxes']
    assert boxes.shape == (10, 4) and result['pred'] is None
    drawn = mmcv.imread(str(out))
    colours = dqp.palette(10)
    assert len(set(colours)) == 10
    # the last patch is drawn on top: its box's top edge has its colour
    x1, y1, x2, _ = boxes[-1].round().astype(int)
    assert tuple(drawn[y1, (x1 + x2) // 2]) == colours[-1]
    again = dqp.draw_query_patches(PRETRAIN, TARGET, str(tmp_path / 'again.png'), seed=3)
    assert np.array_equal(again['patch_boxes'], boxes)
    assert not np.array_equal(dqp.draw_query_patches(PRETRAIN, TARGET, str(tmp_path / 'b.png'), seed=4)
                              ['patch_boxes'], boxes)


def test_draw_patches_cli_with_checkpoint(tmp_path, pretrain_model):
    cfg, ckpt = pretrain_model
    out = tmp_path / 'groups.png'
    proc = run_cmd([sys.executable, 'tools/analysis/draw_query_patches.py', cfg, ckpt, '--image', TARGET,
                    '--out', str(out), '--per-group', '2'])
    assert_ok(proc)
    assert out.stat().st_size > 0
    assert proc.stdout.count('patch ') == 10
    groups = [line for line in proc.stdout.splitlines() if line.startswith('group ')]
    assert len(groups) == 20  # 10 patches x --per-group 2
    parsed = [(int(line.split()[1][:-1]), float(line.split()[-1])) for line in groups]
    assert sorted(g for g, _ in parsed) == sorted(list(range(10)) * 2)
    for g in range(10):  # within a group the kept queries are its best ones, best first, sigmoid scores
        scores = [s for gg, s in parsed if gg == g]
        assert 1 >= scores[0] >= scores[1] >= 0


def test_draw_patches_errors(tmp_path, one_shot_model):
    with pytest.raises(ValueError, match='has no RandomQueryPatches'):
        dqp.draw_query_patches(ONE_SHOT, TARGET, str(tmp_path / 'x.png'))
    with pytest.raises(FileNotFoundError, match='image not found'):
        dqp.draw_query_patches(PRETRAIN, str(tmp_path / 'no.jpg'), str(tmp_path / 'x.png'))
