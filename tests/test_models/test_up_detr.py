"""UP-DETR pre-training: query groups and their attention mask, QueryPatchEncoder, the UP-DETR heads and detectors
(on Conditional DETR and on plain DETR), FreezeModulesHook, and a pre-training config run by tools/train.py."""
import copy
import glob
import logging
import math
import os.path as osp
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData
from torch.nn.modules.batchnorm import _BatchNorm

import mmdet_detrx  # noqa: F401
from mmdet.registry import HOOKS, MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmdet_detrx.models.layers.up_detr_layers import group_self_attn_mask, query_group_ids, query_group_sizes
from tests.conftest import REPO, assert_ok, run_cmd
from tests.helpers import read_scalars

D = 32  # embed dims of the tiny models
BACKBONE_CHANNELS = 512  # ResNet-18


@pytest.fixture(scope='module', autouse=True)
def mmdet_scope():
    register_all_modules(init_default_scope=True)


def model_cfg(kind='cond', num_queries=20, num_patches=10, mask_ratio=0.1, query_shuffle=False, norm_eval=True,
              loss_feature=dict(type='FeatureReconstructionLoss', loss_weight=1.0)):
    """Tiny UP-DETR: ResNet-18 (random init), 32-d, 1 encoder / 2 decoder layers, no dropout."""
    ffn = dict(embed_dims=D, feedforward_channels=64, num_fcs=2, ffn_drop=0.0, act_cfg=dict(type='ReLU', inplace=True))
    cfg = dict(
        num_queries=num_queries,
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=1),
        backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ), frozen_stages=-1,
                      norm_cfg=dict(type='BN', requires_grad=False), norm_eval=norm_eval, style='pytorch',
                      init_cfg=None),
        neck=dict(type='ChannelMapper', in_channels=[BACKBONE_CHANNELS], kernel_size=1, out_channels=D,
                  act_cfg=None, norm_cfg=None, num_outs=1),
        encoder=dict(num_layers=1, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=D, num_heads=4, dropout=0.0, batch_first=True), ffn_cfg=ffn)),
        positional_encoding=dict(num_feats=D // 2, normalize=True),
        patch_encoder=dict(in_channels=BACKBONE_CHANNELS, num_patches=num_patches, mask_ratio=mask_ratio,
                           query_shuffle=query_shuffle),
        test_cfg=dict(max_per_img=2))
    box_costs = [dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                 dict(type='IoUCost', iou_mode='giou', weight=2.0)]
    head = dict(num_classes=1, embed_dims=D, patch_channels=BACKBONE_CHANNELS, loss_feature=loss_feature,
                loss_bbox=dict(type='L1Loss', loss_weight=5.0), loss_iou=dict(type='GIoULoss', loss_weight=2.0))
    if kind == 'cond':
        cfg.update(
            type='UPCondDETR',
            decoder=dict(num_layers=2, return_intermediate=True, layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=D, num_heads=4, attn_drop=0.0),
                cross_attn_cfg=dict(embed_dims=D, num_heads=4, attn_drop=0.0), ffn_cfg=ffn)),
            bbox_head=dict(type='UPCondDETRHead', **head,
                           loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0)),
            train_cfg=dict(assigner=dict(type='BatchedHungarianAssigner',
                                         match_costs=[dict(type='FocalLossCost', weight=2.0)] + box_costs)))
    else:
        cfg.update(
            type='UPDETR',
            decoder=dict(num_layers=2, return_intermediate=True, layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=D, num_heads=4, dropout=0.0, batch_first=True),
                cross_attn_cfg=dict(embed_dims=D, num_heads=4, dropout=0.0, batch_first=True), ffn_cfg=ffn)),
            bbox_head=dict(type='UPDETRHead', **head),
            train_cfg=dict(assigner=dict(type='BatchedHungarianAssigner',
                                         match_costs=[dict(type='ClassificationCost', weight=1.0)] + box_costs)))
    return cfg


def build(**kwargs):
    torch.manual_seed(0)
    model = MODELS.build(model_cfg(**kwargs))
    model.init_weights()
    return model


def make_batch(num_patches, seed=0, patch_size=32, batch_size=2):
    """Normalized 64x64 images with ``num_patches`` patch boxes each, and (P, 3, S, S) patches."""
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch_size, 3, 64, 64, generator=gen)
    samples = []
    for _ in range(batch_size):
        sample = DetDataSample(metainfo=dict(img_shape=(64, 64), batch_input_shape=(64, 64), ori_shape=(64, 64),
                                             scale_factor=(1., 1.)))
        xy = torch.rand(num_patches, 2, generator=gen) * 40
        wh = torch.rand(num_patches, 2, generator=gen) * 20 + 4
        sample.gt_instances = InstanceData(bboxes=torch.cat([xy, xy + wh], 1),
                                           labels=torch.zeros(num_patches, dtype=torch.long))
        sample.query_patches = torch.randn(num_patches, 3, patch_size, patch_size, generator=gen)
        samples.append(sample)
    return inputs, samples


def freeze_hook(model, **kwargs):
    hook = HOOKS.build(dict(type='FreezeModulesHook', modules=['backbone'], **kwargs))
    runner = SimpleNamespace(model=model, logger=MMLogger.get_current_instance(), epoch=0)
    return hook, runner


# ---------------------------------------------------------------------------------------------- groups and mask
def independent_mask(num_queries, num_groups):
    """Block-diagonal mask from numpy's array_split and explicit loops (True = blocked)."""
    allowed = np.zeros((num_queries, num_queries), dtype=bool)
    for block in np.array_split(np.arange(num_queries), num_groups):
        for i in block:
            for j in block:
                allowed[i, j] = True
    return torch.from_numpy(~allowed)


@pytest.mark.parametrize('num_queries,num_groups', [(100, 10), (100, 1), (10, 3), (7, 7), (20, 6), (5, 2), (100, 20),
                                                     (1, 1), (23, 5)])
def test_group_mask_exact(num_queries, num_groups):
    mask = group_self_attn_mask(query_group_ids(num_queries, num_groups))
    assert mask.dtype == torch.bool and mask.shape == (num_queries, num_queries)
    assert torch.equal(mask, independent_mask(num_queries, num_groups))
    sizes = query_group_sizes(num_queries, num_groups)
    assert sum(sizes) == num_queries and len(sizes) == num_groups and max(sizes) - min(sizes) <= 1
    assert (~mask).any(1).all()  # every query attends at least to itself


def test_reference_mask_loop_is_wrong_where_ours_is_not():
    """The reference loops over N / M blocks instead of M: with N=100, M=20 groups 5..19 would see nothing."""
    num_queries, num_groups = 100, 20
    per_group = num_queries // num_groups
    reference_allowed = torch.zeros(num_queries, num_queries, dtype=torch.bool)
    for i in range(per_group):  # the reference's loop count
        reference_allowed[i * per_group:(i + 1) * per_group, i * per_group:(i + 1) * per_group] = True
    assert not reference_allowed[per_group * per_group:].any()
    ours = ~group_self_attn_mask(query_group_ids(num_queries, num_groups))
    assert ours.sum(1).tolist() == [per_group] * num_queries


def test_group_split_errors():
    with pytest.raises(ValueError, match='cannot split 5 object queries into 6'):
        query_group_sizes(5, 6)
    with pytest.raises(ValueError, match='into 0'):
        query_group_sizes(5, 0)
    with pytest.raises(ValueError, match='num_patches'):
        build(num_queries=4, num_patches=5)


# --------------------------------------------------------------------------------------------- QueryPatchEncoder
def encoder(**kwargs):
    torch.manual_seed(0)
    cfg = dict(type='QueryPatchEncoder', in_channels=8, embed_dims=4, num_patches=3, mask_ratio=0.0)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def test_patch_encoder_adds_each_group_its_patch():
    enc = encoder().eval()
    feats, queries = torch.randn(2, 3, 8), torch.randn(10, 4)
    query_pos, mask = enc(feats, queries)
    groups = query_group_ids(10, 3)  # sizes 4, 3, 3
    assert groups.tolist() == [0] * 4 + [1] * 3 + [2] * 3
    expected = queries[None] + enc.patch2query(feats)[:, groups]
    torch.testing.assert_close(query_pos, expected)
    assert torch.equal(mask, group_self_attn_mask(groups))
    # fewer patches at inference: the first groups' queries only
    query_pos, mask = enc(feats[:, :2], queries)
    assert query_pos.shape == (2, 7, 4) and mask.shape == (7, 7)
    torch.testing.assert_close(query_pos, expected[:, :7])
    with pytest.raises(ValueError, match='exactly num_patches=3'):
        enc.train()(feats[:, :2], queries)
    with pytest.raises(ValueError, match='in_channels=8'):
        enc(torch.randn(2, 3, 5), queries)


def test_patch_encoder_masking_and_shuffle():
    enc = encoder(num_patches=10, mask_ratio=0.1).train()
    feats, queries = torch.randn(4, 10, 8), torch.randn(1000, 4)
    torch.manual_seed(1)
    query_pos, _ = enc(feats, queries)
    patch_part = query_pos - queries[None]
    zeroed = (patch_part.abs().sum(-1) < 1e-6).float().mean().item()
    assert 0.07 < zeroed < 0.13  # about mask_ratio of the (image, query) pairs
    expected = queries[None] + enc.patch2query(feats)[:, query_group_ids(1000, 10)]
    assert torch.equal(enc.eval()(feats, queries)[0], expected)  # no masking at inference
    shuffled = encoder(num_patches=10, mask_ratio=0.0, query_shuffle=True).train()
    feats = torch.randn(1, 10, 8)
    query_pos, _ = shuffled(feats, queries)
    used = query_pos[0] - shuffled.patch2query(feats)[0, query_group_ids(1000, 10)]
    # every object query is used exactly once, in a new order
    order = torch.cdist(used, queries).argmin(1)
    assert sorted(order.tolist()) == list(range(1000)) and order.tolist() != list(range(1000))


# ---------------------------------------------------------------------------------------------------- detectors
def change_per_query_when_patch_1_changes(model, inputs, samples):
    """Max abs change of every query's class scores (eval mode) when every image's patch 1 is redrawn: (Q,)."""
    changed = copy.deepcopy(samples)
    for s in changed:
        s.query_patches[1] = torch.randn(s.query_patches.shape[1:])
    with torch.no_grad():
        before = model._forward(inputs, samples)[0]
        after = model._forward(inputs, changed)[0]
    return (before - after).abs().amax(dim=(0, 1, 3))


@pytest.mark.parametrize('kind', ['cond', 'detr'])
def test_groups_do_not_interact_in_the_decoder(kind):
    """Changing patch 1 changes the outputs of group 1's queries only (block-diagonal self-attention)."""
    model = build(kind=kind, num_queries=10, num_patches=3).eval()
    change = change_per_query_when_patch_1_changes(model, *make_batch(3))
    groups = query_group_ids(10, 3)
    assert (change[groups != 1] < 1e-6).all() and (change[groups == 1] > 1e-4).all()


@pytest.mark.parametrize('kind', ['cond', 'detr'])
def test_decoder_gets_group_mask_and_head_gets_patch_features(kind):
    model = build(kind=kind, num_queries=20, num_patches=6).train()
    inputs, samples = make_batch(6)
    captured = {}

    def spy(module, args, kwargs):
        captured.update(kwargs)

    handle = model.decoder.register_forward_pre_hook(spy, with_kwargs=True)
    head_inputs = model.forward_transformer(model.extract_feat(inputs), samples)
    handle.remove()
    assert torch.equal(captured['self_attn_mask'], independent_mask(20, 6))
    assert captured['query_pos'].shape == (2, 20, D)
    patch_feats = head_inputs['patch_feats']
    assert patch_feats.shape == (2, 6, BACKBONE_CHANNELS)
    expected = model.backbone(torch.stack([s.query_patches for s in samples]).flatten(0, 1))[-1].mean((2, 3))
    torch.testing.assert_close(patch_feats.flatten(0, 1), expected)


def train_on_fixed_batch(model, inputs, samples, steps, lr):
    """``steps`` AdamW steps of UP-DETR pre-training (backbone frozen by FreezeModulesHook, the same patch masking
    and query shuffle every step) on one batch; returns the total loss of every step."""
    hook, runner = freeze_hook(model)
    hook.before_train(runner)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    totals = []
    for _ in range(steps):
        hook.before_train_iter(runner, 0)
        torch.manual_seed(0)
        losses = model.loss(inputs, samples)
        assert {'loss_cls', 'loss_bbox', 'loss_iou', 'loss_feature', 'd0.loss_feature'} <= set(losses)
        total, _ = model.parse_losses(losses)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        totals.append(total.item())
    assert all(math.isfinite(t) for t in totals)
    return totals


@pytest.mark.parametrize('kind,num_patches', [('cond', 1), ('cond', 10), ('detr', 1), ('detr', 10)])
def test_loss_decreases_on_a_fixed_batch(kind, num_patches):
    model = build(kind=kind, num_queries=20, num_patches=num_patches)
    totals = train_on_fixed_batch(model, *make_batch(num_patches), steps=25, lr=1e-3)
    assert np.mean(totals[-3:]) < 0.7 * totals[0], totals


def test_predict_with_fewer_patches_and_clear_errors():
    model = build(kind='cond', num_queries=20, num_patches=10).eval()
    inputs, samples = make_batch(10)
    for s in samples:
        s.query_patches = s.query_patches[:1]  # one-shot: one patch, the first group's 2 queries
    with torch.no_grad():
        results = model.predict(inputs, samples)
        scores, _ = model._forward(inputs, samples)
    assert scores.shape == (2, 2, 2, 1) and len(results[0].pred_instances) == 2
    model.bbox_head.test_cfg['max_per_img'] = 5
    with pytest.raises(ValueError, match='max_per_img=5'):
        model.predict(inputs, samples)
    del samples[1].query_patches
    with pytest.raises(ValueError, match=r'data samples \[1\] have no `query_patches`.*PackQueryPatchInputs'):
        model.predict(inputs, samples)


# ----------------------------------------------------------------------------------------------------------- heads
def test_feature_loss_is_the_reference_formula():
    """Per layer: sum over matched queries of |n(align(h_q)) - n(patch feature of its gt)|^2 / #matched."""
    torch.manual_seed(0)
    head = MODELS.build(model_cfg('cond')['bbox_head'] | dict(train_cfg=model_cfg('cond')['train_cfg']))
    head.init_weights()
    _, samples = make_batch(4, seed=3)
    hidden = torch.randn(2, 2, 20, D)
    refs = torch.rand(2, 20, 2)
    patch_feats = torch.randn(2, 4, BACKBONE_CHANNELS)
    losses = head.loss(hidden, samples, patch_feats=patch_feats, references=refs)
    gts = [s.gt_instances for s in samples]
    metas = [s.metainfo for s in samples]
    gt_inds = head.match_layers(*head(hidden, refs), gts, metas)
    pred = head.feature_align(hidden)
    for layer, key in enumerate(['d0.loss_feature', 'loss_feature']):
        total, count = 0.0, 0
        for b in range(2):
            for q in range(20):
                j = int(gt_inds[layer, b, q]) - 1
                if j >= 0:
                    p = pred[layer, b, q] / pred[layer, b, q].norm()
                    t = patch_feats[b, j] / patch_feats[b, j].norm()
                    total, count = total + ((p - t) ** 2).sum(), count + 1
        assert count == 8  # every patch box matched once per layer
        torch.testing.assert_close(losses[key], total / count)
    losses[key].backward()
    assert head.feature_align.layers[0].weight.grad is not None
    no_feature = MODELS.build(model_cfg('cond', loss_feature=None)['bbox_head'])
    assert not hasattr(no_feature, 'feature_align')
    assert not any('feature' in k for k in no_feature.loss(hidden, samples, references=refs))


def test_updetr_head_equals_mmdet_detr_head():
    """Without feature reconstruction, UPDETRHead's losses are mmdet's DETRHead's (no-object weight 0.1)."""
    cfg = model_cfg('detr', loss_feature=None)
    head_cfg = {k: v for k, v in cfg['bbox_head'].items() if k not in ('loss_feature', 'patch_channels')}
    assigner = dict(type='HungarianAssigner', match_costs=cfg['train_cfg']['assigner']['match_costs'])
    torch.manual_seed(0)
    ours = MODELS.build(dict(head_cfg, type='UPDETRHead', loss_feature=None, train_cfg=dict(assigner=assigner)))
    theirs = MODELS.build(dict(head_cfg, type='DETRHead', train_cfg=dict(assigner=assigner)))
    theirs.load_state_dict(ours.state_dict())
    _, samples = make_batch(4, seed=5)
    hidden = torch.randn(2, 2, 20, D)
    expected = theirs.loss(hidden, samples)
    got = ours.loss(hidden, samples)
    assert set(got) == set(expected)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], msg=key)


# ------------------------------------------------------------------------------------------------ FreezeModulesHook
def test_freeze_hook_no_grad_bn_eval_and_unfreeze():
    model = build(kind='cond', num_queries=20, num_patches=2, norm_eval=False)
    original = {n: p.requires_grad for n, p in model.backbone.named_parameters()}
    assert any(original.values()) and not all(original.values())  # convs train, BN affine frozen by config
    hook, runner = freeze_hook(model, unfreeze_epoch=1)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    runner.logger.addHandler(handler)
    try:
        hook.before_train(runner)
    finally:
        runner.logger.removeHandler(handler)
    assert not any(p.requires_grad for p in model.backbone.parameters())
    trainable = sum(p.numel() for n, p in model.backbone.named_parameters() if original[n])
    message = ' '.join(r.getMessage() for r in records)
    assert "froze 'backbone' (ResNet: " in message and f'{trainable:,} of them trainable' in message
    assert '20 BatchNorm layers kept in eval mode) until epoch 1' in message
    model.train()  # as the train loop does every epoch
    hook.before_train_iter(runner, 0)
    norms = [m for m in model.backbone.modules() if isinstance(m, _BatchNorm)]
    assert norms and not any(m.training for m in norms)
    assert model.neck.training and model.decoder.training
    stats = copy.deepcopy([m.running_mean for m in norms])
    inputs, samples = make_batch(2)
    sum(model.loss(inputs, samples).values()).backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.patch_encoder.patch2query.weight.grad is not None
    assert model.bbox_head.feature_align.layers[-1].weight.grad is not None
    assert all(torch.equal(a, m.running_mean) for a, m in zip(stats, norms))
    # unfreezing restores what the model had (BN affine stays frozen by its config)
    runner.epoch = 1
    hook.before_train_epoch(runner)
    assert {n: p.requires_grad for n, p in model.backbone.named_parameters()} == original
    model.train()
    hook.before_train_iter(runner, 0)
    assert all(m.training for m in norms)


def test_freeze_hook_errors():
    model = build(kind='detr', num_queries=4, num_patches=2)
    hook, runner = freeze_hook(model)
    hook.modules = ('backbone', 'bakbone')
    with pytest.raises(KeyError, match=r"no sub-module 'bakbone'.*'backbone'"):
        hook.before_train(runner)
    with pytest.raises(ValueError, match='unfreeze_epoch'):
        HOOKS.build(dict(type='FreezeModulesHook', unfreeze_epoch=-1))


# ------------------------------------------------------------------------------------------------ tools/train.py
@pytest.mark.parametrize('config', ['up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py',
                                    'up-detr_r18_1xb4-20e_pretrain-coco128-bccd.py'])
def test_pretrain_config_trains_one_epoch(tmp_path, config):
    work_dir = str(tmp_path / 'wd')
    proc = run_cmd([sys.executable, 'tools/train.py', osp.join('configs', 'up_detr', config), '--work-dir', work_dir,
                    '--cfg-options', 'model.backbone.init_cfg=None', 'train_dataloader.dataset.indices=4',
                    'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1'], cwd=REPO)
    assert_ok(proc)
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    log = proc.stdout + proc.stderr
    assert "FreezeModulesHook: froze 'backbone'" in log
    rows = [r for r in read_scalars(work_dir) if 'loss' in r]
    assert len(rows) == 1  # 4 images, batch 4
    assert all(math.isfinite(rows[0][k]) and rows[0][k] > 0
               for k in ('loss', 'loss_cls', 'loss_bbox', 'loss_iou', 'loss_feature'))
    assert glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
