"""UP-DETR pre-training on DAB-DETR, Deformable DETR and DINO (the shipped Lite0 pre-training configs, tiny inputs):
the query groups stay independent in the decoder, the decoder gets the group mask (DINO: inside its denoising mask),
the patch embedding goes where each base keeps its content, fewer patches decode fewer groups, and the pre-training
loss goes down on a fixed batch."""
import os.path as osp

import numpy as np
import pytest
import torch

from mmdet_detrx.models.layers.up_detr_layers import query_group_ids
from mmdet_detrx.utils.model_build import build_detector
from tests.conftest import REPO
from tests.test_models.test_up_detr import (change_per_query_when_patch_1_changes, independent_mask, make_batch,
                                           train_on_fixed_batch)

BASES = ['dab-detr', 'deformable-detr', 'dino']
NUM_QUERIES, NUM_PATCHES = 100, 10


def build(base):
    """The pre-training model with its frozen ImageNet backbone (a random one gives near-zero patch features)."""
    torch.manual_seed(0)
    _, model = build_detector(osp.join(REPO, f'configs/up_detr/up-{base}_lite0_1xb4-20e_pretrain-coco128-bccd.py'),
                              pretrained=True)
    return model


def batch(model, num_patches=NUM_PATCHES, seed=0):
    """:func:`make_batch` at 128 x 128 px (DINO selects 100 proposals from its 4 levels: 64 x 64 px has 85)."""
    inputs, samples = make_batch(num_patches, seed=seed)
    for sample in samples:
        sample.set_metainfo(dict(img_shape=(128, 128), batch_input_shape=(128, 128), ori_shape=(128, 128)))
        sample.gt_instances.bboxes = sample.gt_instances.bboxes * 2
    return torch.nn.functional.interpolate(inputs, scale_factor=2.0), samples


@pytest.mark.parametrize('base', BASES)
def test_groups_do_not_interact_in_the_decoder(base):
    """Changing patch 1 changes the outputs of group 1's queries only."""
    model = build(base).eval()
    change = change_per_query_when_patch_1_changes(model, *batch(model))
    groups = query_group_ids(NUM_QUERIES, NUM_PATCHES)
    assert (change[groups != 1] < 1e-5).all() and (change[groups == 1] > 1e-4).all()


@pytest.mark.parametrize('base', BASES)
def test_decoder_gets_the_group_mask_and_patch_queries(base):
    model = build(base).train()
    inputs, samples = batch(model)
    captured = {}
    handle = model.decoder.register_forward_pre_hook(lambda m, a, kw: captured.update(kw), with_kwargs=True)
    head_inputs = model.forward_transformer(model.extract_feat(inputs), samples)
    handle.remove()
    mask = captured.get('self_attn_mask', captured.get('self_attn_masks'))
    expected = independent_mask(NUM_QUERIES, NUM_PATCHES)
    if base == 'dino':  # denoising queries first; the matching queries get the group mask, and cannot see them
        num_dn = mask.size(0) - NUM_QUERIES
        assert num_dn > 0 and torch.equal(mask[num_dn:, num_dn:], expected)
        assert mask[num_dn:, :num_dn].all()
    else:
        assert torch.equal(mask, expected)
    assert head_inputs['patch_feats'].shape == (2, NUM_PATCHES, 320)
    if base == 'dab-detr':  # the patch embedding is DAB's content query; the anchors are the learnt ones
        assert captured['query'].abs().sum() > 0
        assert captured['query_pos'].shape == (2, NUM_QUERIES, 4)


@pytest.mark.parametrize('base', BASES)
def test_fewer_patches_decode_fewer_groups(base):
    model = build(base).eval()
    inputs, samples = batch(model)
    for s in samples:
        s.query_patches = s.query_patches[:2]  # the first 2 groups: 20 queries
    model.bbox_head.test_cfg['max_per_img'] = 5
    with torch.no_grad():
        scores = model._forward(inputs, samples)[0]
        results = model.predict(inputs, samples)
    assert scores.shape[1:3] == (2, 2 * NUM_QUERIES // NUM_PATCHES)
    assert len(results[0].pred_instances) == 5


@pytest.mark.parametrize('base', BASES)
def test_pretraining_loss_decreases_on_a_fixed_batch(base):
    model = build(base)
    totals = train_on_fixed_batch(model, *batch(model), steps=12, lr=2e-4)
    assert np.mean(totals[-3:]) < 0.8 * totals[0], totals
