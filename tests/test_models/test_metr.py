"""METR: category extraction and selection, class-specific queries, METRHead (group matching, local-label
predictions), the METR detector on two label spaces of different sizes, the checkpoint converter to
DeformableDETR / DINO / CondDETR, and the category-drawing tool."""
import copy
import importlib.util
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmengine.structures import InstanceData

import mmdet_detrx  # noqa: F401
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.utils import register_all_modules
from mmdet_detrx.models.layers.metr_layers import (METRQueryGenerator, category_targets, query_slots,
                                                   select_categories_test, select_categories_train)
from tests.conftest import REPO

D = 64  # embed dims of the tiny models
EMB = osp.join(REPO, 'data', 'class_embeddings')
SPACES = dict(coco128=dict(embeddings=osp.join(EMB, 'coco_minilm-l6.pt'), classes=None),
              bccd=dict(embeddings=osp.join(EMB, 'bccd_minilm-l6.pt'), classes=None))
NUM_CLASSES = dict(coco128=80, bccd=3)
H, W = 64, 96


@pytest.fixture(scope='module', autouse=True)
def mmdet_scope():
    register_all_modules(init_default_scope=True)


def transformer_cfg(num_layers=1):
    """Deformable encoder / decoder configs of the tiny models (2 levels, no dropout)."""
    ffn = dict(embed_dims=D, feedforward_channels=128, ffn_drop=0.0)
    encoder = dict(num_layers=num_layers, layer_cfg=dict(
        self_attn_cfg=dict(embed_dims=D, num_heads=4, num_levels=2, num_points=2, batch_first=True), ffn_cfg=ffn))
    decoder = dict(num_layers=num_layers, return_intermediate=True, post_norm_cfg=None, layer_cfg=dict(
        self_attn_cfg=dict(embed_dims=D, num_heads=4, dropout=0.0, batch_first=True),
        cross_attn_cfg=dict(embed_dims=D, num_heads=4, num_levels=2, num_points=2, batch_first=True),
        ffn_cfg=ffn))
    return encoder, decoder


def common_cfg():
    encoder, decoder = transformer_cfg()
    return dict(
        num_feature_levels=2,
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=1),
        backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(2, 3), frozen_stages=-1,
                      norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch', init_cfg=None),
        neck=dict(type='ChannelMapper', in_channels=[256, 512], kernel_size=1, out_channels=D, act_cfg=None,
                  norm_cfg=dict(type='GN', num_groups=8), num_outs=2),
        encoder=encoder,
        decoder=decoder,
        positional_encoding=dict(num_feats=D // 2, normalize=True, offset=-0.5))


def metr_cfg(num_queries=12, num_categories=4, with_box_refine=False, **kwargs):
    """Tiny METR: ResNet-18 (random init), 64-d, 1 + 1 layers, two label spaces (80 and 3 classes)."""
    cfg = dict(
        type='METR',
        num_queries=num_queries,
        num_categories=num_categories,
        with_box_refine=with_box_refine,
        label_spaces=copy.deepcopy(SPACES),
        category_extractor=dict(type='METRCategoryExtractor', num_layers=1, num_heads=4, feedforward_channels=128),
        query_generator=dict(type='METRQueryGenerator', distribute='balanced'),
        bbox_head=dict(type='METRHead', embed_dims=D,
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
                       loss_bbox=dict(type='L1Loss', loss_weight=5.0), loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
        train_cfg=dict(assigner=dict(type='GroupHungarianAssigner', match_costs=[
            dict(type='FocalLossCost', weight=2.0), dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
            dict(type='IoUCost', iou_mode='giou', weight=2.0)])),
        test_cfg=dict(max_per_img=100),
        **common_cfg())
    cfg.update(kwargs)
    return cfg


def build(cfg):
    model = MODELS.build(copy.deepcopy(cfg))
    model.init_weights()
    return model


def make_sample(space, labels, seed, h=H, w=W, tagged=True):
    g = torch.Generator().manual_seed(seed)
    n = len(labels)
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
    wh = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.3, h * 0.3]) + 6
    meta = dict(img_shape=(h, w), ori_shape=(h, w), batch_input_shape=(h, w), scale_factor=(1.0, 1.0),
                img_path=f'fake_{space}_{seed}.png')
    if tagged:
        meta['label_space'] = space
    sample = DetDataSample(metainfo=meta)
    sample.gt_instances = InstanceData(bboxes=torch.cat([xy, xy + wh], 1), labels=torch.tensor(labels).long())
    return sample


def batch(seed=0):
    torch.manual_seed(seed)
    inputs = torch.randn(2, 3, H, W)
    samples = [make_sample('coco128', [0, 0, 17, 56], seed), make_sample('bccd', [0, 1, 0, 2], seed + 1)]
    return inputs, samples


# ------------------------------------------------------------------------------------------- layers
def test_query_slots_balanced_and_floor():
    for q, k in [(10, 3), (12, 4), (7, 7), (100, 3), (100, 10), (5, 2)]:
        slots = query_slots(q, k, 'balanced')
        counts = torch.bincount(slots, minlength=k)
        assert (slots >= 0).all() and int(counts.sum()) == q
        assert int(counts.max()) - int(counts.min()) <= 1
        floor = query_slots(q, k, 'floor')
        counts = torch.bincount(floor[floor >= 0], minlength=k)
        assert (counts == q // k).all() and int((floor == -1).sum()) == q % k
    assert query_slots(10, 3, 'balanced').tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert query_slots(10, 3, 'floor').tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, -1]
    assert (query_slots(4, 0) == -1).all()
    with pytest.raises(ValueError, match='categories selected for 3 queries'):
        query_slots(3, 4)


def test_query_generator_content_is_learned_plus_text():
    gen = METRQueryGenerator(num_queries=10, embed_dims=8, text_dim=5, distribute='floor')
    gen.init_weights()
    class_embeds = torch.randn(2, 6, 5)
    selected = torch.tensor([[4, 1, 2], [0, 2, -1]])
    query, query_pos, labels = gen(selected, class_embeds)
    assert labels[0].tolist() == [4, 4, 4, 1, 1, 1, 2, 2, 2, -1]
    assert labels[1].tolist() == [0] * 5 + [2] * 5
    pos, content = gen.query_embedding.weight.split(8, dim=1)
    text = gen.text_norm(gen.text_proj(class_embeds))
    torch.testing.assert_close(query[0, 3], content[3] + text[0, 1])
    torch.testing.assert_close(query[1, 9], content[9] + text[1, 2])
    torch.testing.assert_close(query[0, 9], content[9])  # unbound: learned part only
    torch.testing.assert_close(query_pos[1], pos)


def test_training_selection_all_gt_plus_own_space_negatives():
    logits = torch.randn(3, 80)
    valid = torch.ones(3, 80, dtype=torch.bool)
    valid[1, 3:] = False  # a 3-class label space
    logits[1, 3:] = float('-inf')
    gts = [torch.tensor([5, 5, 70]), torch.tensor([2]), torch.arange(20)]
    for negatives in ('hard', 'random'):
        sel = select_categories_train(logits, valid, gts, 10, negatives)
        assert sel.shape == (3, 10)
        assert {5, 70} <= set(sel[0].tolist()) and len(set(sel[0].tolist())) == 10
        assert sorted(sel[1][sel[1] >= 0].tolist()) == [0, 1, 2] and (sel[1][3:] == -1).all()
        assert set(sel[2].tolist()) <= set(range(20)) and len(set(sel[2].tolist())) == 10  # random K of the gts
    sel = select_categories_train(logits, valid, gts, 10, 'hard')
    negs = [c for c in sel[0].tolist() if c not in (5, 70)]
    masked = logits[0].clone()
    masked[[5, 70]] = float('-inf')
    assert sorted(negs) == sorted(masked.topk(8).indices.tolist())  # hardest = highest-scored non-gt


def test_test_selection_topk_within_space():
    logits = torch.randn(2, 80)
    logits[1, 3:] = float('-inf')
    sel = select_categories_test(logits, 5)
    assert sel[0].tolist() == logits[0].topk(5).indices.tolist()
    assert sorted(sel[1, :3].tolist()) == [0, 1, 2] and sel[1, 3:].tolist() == [-1, -1]
    targets = category_targets([torch.tensor([1, 1, 7]), torch.tensor([2])], torch.ones(2, 80, dtype=torch.bool))
    assert targets[0].nonzero().flatten().tolist() == [1, 7] and targets[1].nonzero().flatten().tolist() == [2]


# ------------------------------------------------------------------------------------------- detector
@pytest.mark.parametrize('with_box_refine', [False, True])
def test_loss_keys_finite(with_box_refine):
    cfg = metr_cfg(with_box_refine=with_box_refine)
    cfg['decoder']['num_layers'] = 2  # also the d0.* losses of the first layer
    model = build(cfg)
    model.train()
    inputs, samples = batch()
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_iou', 'd0.loss_cls', 'd0.loss_bbox', 'd0.loss_iou',
                           'loss_category'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()
    assert model.category_extractor.text_proj.weight.grad.abs().sum() > 0
    assert model.query_generator.text_proj.weight.grad.abs().sum() > 0


def test_loss_with_an_image_without_gt():
    model = build(metr_cfg())
    model.train()
    inputs, samples = batch()
    empty = make_sample('coco128', [], 7)
    losses = model.loss(inputs, [empty, samples[1]])
    assert all(torch.isfinite(v) for v in losses.values())


def test_loss_decreases_on_fixed_batch():
    torch.manual_seed(0)
    model = build(metr_cfg())
    model.train()
    inputs, samples = batch()
    data = model.data_preprocessor(dict(inputs=list(((inputs + 2) * 50).clamp(0, 255)), data_samples=samples),
                                   True)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    totals = []
    for _ in range(20):
        losses = model.loss(data['inputs'], data['data_samples'])
        total = sum(losses.values())
        optim.zero_grad()
        total.backward()
        optim.step()
        totals.append(float(total))
    assert np.mean(totals[-3:]) < 0.7 * np.mean(totals[:3]), totals


def test_query_labels_within_own_label_space_and_selection():
    model = build(metr_cfg(num_queries=12, num_categories=4))
    inputs, samples = batch()
    feats = model.extract_feat(inputs)
    for training in (True, False):
        model.train(training)
        with torch.no_grad():
            head_inputs = model.forward_transformer(feats, samples)
        labels = head_inputs['query_labels']
        selected = head_inputs['selected_categories']
        assert labels.shape == (2, 12)
        for i, sample in enumerate(samples):
            n = NUM_CLASSES[sample.metainfo['label_space']]
            assert ((labels[i] >= 0) & (labels[i] < n)).all()  # balanced: every query bound
            sel = selected[i][selected[i] >= 0]
            assert len(sel) == min(4, n) and set(labels[i].tolist()) == set(sel.tolist())
            if training:
                assert set(sample.gt_instances.labels.tolist()) <= set(sel.tolist())
            counts = torch.bincount(labels[i], minlength=n)[sel]
            assert int(counts.max()) - int(counts.min()) <= 1


def test_group_matching_pairs_only_same_category():
    model = build(metr_cfg(num_queries=12, num_categories=4))
    inputs, samples = batch()
    model.train()
    feats = model.extract_feat(inputs)
    with torch.no_grad():
        head_inputs = model.forward_transformer(feats, samples)
        cls, coords = model.bbox_head(head_inputs['hidden_states'], head_inputs['references'])
    query_labels = head_inputs['query_labels']
    gts = [s.gt_instances for s in samples]
    gt_inds = model.bbox_head.match(cls[-1], coords[-1], query_labels, gts, [s.metainfo for s in samples])
    for i, gt in enumerate(gts):
        matched = gt_inds[i] > 0
        assert torch.equal(query_labels[i][matched], gt.labels[gt_inds[i][matched] - 1])
        # every gt is matched (each gt category has >= 3 queries here, at most 2 gts per category)
        assert sorted((gt_inds[i][matched] - 1).tolist()) == list(range(len(gt.labels)))


def test_predict_local_labels_and_at_most_100_boxes():
    model = build(metr_cfg(num_queries=110, num_categories=5))
    model.eval()
    inputs, samples = batch()
    for s in samples:
        s.set_metainfo(dict(scale_factor=(2.0, 2.0)))
    with torch.no_grad():
        results = model.predict(inputs, samples)
    for res in results:
        n = NUM_CLASSES[res.metainfo['label_space']]
        inst = res.pred_instances
        assert len(inst.scores) == 100 and inst.bboxes.shape == (100, 4)
        assert ((inst.labels >= 0) & (inst.labels < n)).all()
        assert set(inst.labels.tolist()) <= set(res.pred_categories.labels.tolist())
        assert (inst.scores[:-1] >= inst.scores[1:]).all() and ((inst.scores >= 0) & (inst.scores <= 1)).all()
        assert (inst.bboxes[:, 2] <= W / 2 + 1e-4).all()  # rescaled by scale_factor 2
        assert len(res.pred_categories.labels) == min(5, n)


def test_predict_score_is_geometric_mean_of_box_and_category():
    model = build(metr_cfg(num_queries=8, num_categories=2))
    head = model.bbox_head
    cls = torch.randn(8, 1)
    labels = torch.tensor([3, 3, 3, 3, 1, 1, 1, -1])
    cat_scores = torch.rand(80)
    res = head.predict_single(cls, torch.rand(8, 4) * 0.5 + 0.25, labels, cat_scores, dict(img_shape=(H, W)),
                              rescale=False)
    assert len(res.scores) == 7 and -1 not in res.labels.tolist()
    expect = (cls[:7, 0].sigmoid() * cat_scores[labels[:7]]).sqrt().sort(descending=True).values
    torch.testing.assert_close(res.scores, expect)


def test_clear_errors():
    model = build(metr_cfg())
    inputs, samples = batch()
    bad = [samples[0], make_sample('voc', [0], 3)]
    with pytest.raises(ValueError, match="label_space 'voc'.*only knows"):
        model.loss(inputs, bad)
    with pytest.raises(ValueError, match=r"label space 'bccd' has gt labels \[5\] outside \[0, 3\)"):
        model.loss(inputs, [samples[0], make_sample('bccd', [0, 5], 4)])
    with pytest.raises(KeyError, match='label_space'):
        model.loss(inputs, [samples[0], make_sample('bccd', [0], 5, tagged=False)])
    # single-dataset configs may name a default label space for untagged samples
    default = build(metr_cfg(default_label_space='bccd'))
    losses = default.loss(inputs, [make_sample('bccd', [0], 5, tagged=False), samples[1]])
    assert torch.isfinite(losses['loss_category'])
    with pytest.raises(ValueError, match='384-dim class embeddings, .* needs 512'):
        MODELS.build(metr_cfg(text_dim=512))
    with pytest.raises(ValueError, match="no embedding for 1 of the 2 classes: 'cell'"):
        MODELS.build(metr_cfg(label_spaces=dict(x=dict(embeddings=SPACES['bccd']['embeddings'],
                                                          classes=['RBC', 'cell']))))
    with pytest.raises(ValueError, match='num_categories must be in'):
        MODELS.build(metr_cfg(num_queries=4, num_categories=5))
    with pytest.raises(ValueError, match='num_classes=1'):
        MODELS.build(dict(type='METRHead', num_classes=3, embed_dims=D))


# ------------------------------------------------------------------------------------------- converter
def load_tool(name, rel):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, rel))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deformable_target(num_queries=12):
    head = dict(type='DeformableDETRHead', num_classes=3, embed_dims=D,
                loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0))
    return dict(type='DeformableDETR', num_queries=num_queries, with_box_refine=False, as_two_stage=False,
                bbox_head=head, train_cfg=dict(assigner=dict(type='HungarianAssigner', match_costs=[
                    dict(type='FocalLossCost', weight=2.0)])), test_cfg=dict(max_per_img=100), **common_cfg())


def dino_target():
    cfg = deformable_target()
    cfg.update(type='DINO', with_box_refine=True, as_two_stage=True,
               dn_cfg=dict(label_noise_scale=0.5, box_noise_scale=1.0,
                           group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=10)))
    cfg['bbox_head'] = dict(cfg['bbox_head'], type='DINOHead')
    cfg['positional_encoding'] = dict(num_feats=D // 2, normalize=True, offset=0.0, temperature=20)
    cfg['decoder'] = dict(cfg['decoder'], post_norm_cfg=None)
    return cfg


def cond_detr_target():
    ffn = dict(type='FastDropoutFFN', embed_dims=D, feedforward_channels=128, num_fcs=2, ffn_drop=0.0,
               act_cfg=dict(type='ReLU', inplace=True))
    return dict(
        type='CondDETR', num_queries=12,
        data_preprocessor=common_cfg()['data_preprocessor'],
        backbone=dict(common_cfg()['backbone'], out_indices=(3, )),
        neck=dict(type='ChannelMapper', in_channels=[512], kernel_size=1, out_channels=D, act_cfg=None,
                  norm_cfg=None, num_outs=1),
        encoder=dict(type='ModularDETREncoder', num_layers=1, layer_cfg=dict(
            type='ModularDETREncoderLayer',
            self_attn_cfg=dict(type='MultiheadAttention', embed_dims=D, num_heads=4, dropout=0.0, batch_first=True),
            ffn_cfg=ffn)),
        decoder=dict(type='CondDETRDecoder', num_layers=1, return_intermediate=True, layer_cfg=dict(
            type='CondDETRDecoderLayer',
            self_attn_cfg=dict(type='CondDETRSelfAttention', embed_dims=D, num_heads=4, attn_drop=0.0),
            cross_attn_cfg=dict(type='CondDETRCrossAttention', embed_dims=D, num_heads=4, attn_drop=0.0),
            ffn_cfg=ffn)),
        positional_encoding=dict(type='SinePositionalEncoding', num_feats=D // 2, normalize=True),
        bbox_head=dict(type='CondDETRHead', num_classes=3, embed_dims=D,
                       loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0)),
        train_cfg=dict(assigner=dict(type='BatchedHungarianAssigner', match_costs=[
            dict(type='FocalLossCost', weight=2.0)])),
        test_cfg=dict(max_per_img=100))


@pytest.fixture(scope='module')
def metr_checkpoint(tmp_path_factory):
    torch.manual_seed(1)
    model = build(metr_cfg())
    path = str(tmp_path_factory.mktemp('metr') / 'metr.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path, model.state_dict()


def write_config(path, model):
    Config(dict(model=model, default_scope='mmdet',
                custom_imports=dict(imports=['mmdet_detrx'], allow_failed_imports=False))).dump(str(path))
    return str(path)


@pytest.mark.parametrize('target', ['DeformableDETR', 'DINO', 'CondDETR'])
def test_converter_transfers_tensors(target, metr_checkpoint, tmp_path, capsys):
    src_path, src_sd = metr_checkpoint
    target_cfg = dict(DeformableDETR=deformable_target, DINO=dino_target, CondDETR=cond_detr_target)[target]()
    config = write_config(tmp_path / 'target.py', target_cfg)
    dst = str(tmp_path / 'init.pth')
    tool = load_tool('metr_to_finetune', 'tools/model_converters/metr_to_finetune.py')
    tool.main([src_path, dst, '--config', config])
    printed = capsys.readouterr().out
    assert 'kept' in printed and 'dropped' in printed and 'category_extractor' in printed
    converted = torch.load(dst, weights_only=True)
    sd = converted['state_dict']
    from mmdet_detrx.utils.converters.metr import convert_metr_to_finetune_with_report
    model = MODELS.build(copy.deepcopy(target_cfg))
    report = convert_metr_to_finetune_with_report(torch.load(src_path, weights_only=True), target,
                                                  model.state_dict())
    assert set(report.state_dict) == set(sd)
    load_checkpoint(model, dst, map_location='cpu', strict=False)
    loaded = model.state_dict()
    for src_key, dst_key in report.key_map.items():
        assert torch.equal(loaded[dst_key], src_sd[src_key]), (src_key, dst_key)
        assert torch.equal(sd[dst_key], src_sd[src_key])
    kept = set(report.key_map)
    assert not any(k.startswith(('category_extractor.', 'query_generator.', 'bbox_head.cls_branches.'))
                   for k in kept)
    assert all(k in kept for k in src_sd if k.startswith('backbone.'))
    if target in ('DeformableDETR', 'DINO'):
        expect = [k for k in src_sd if k.startswith(('neck.', 'encoder.', 'decoder.', 'bbox_head.reg_branches.'))]
        expect.append('level_embed')
        if target == 'DeformableDETR':
            expect += ['reference_points_fc.weight', 'reference_points_fc.bias']
        assert set(expect) <= kept, sorted(set(expect) - kept)
    else:
        assert 'encoder.layers.0.ffn.layers.0.0.weight' in kept and 'encoder.layers.0.norms.1.bias' in kept
        assert report.key_map['neck.convs.1.conv.weight'] == 'neck.convs.0.conv.weight'
        assert report.key_map['bbox_head.reg_branches.0.4.weight'] == 'bbox_head.fc_reg.weight'
        assert 'encoder.layers.0.self_attn.value_proj.weight' in report.unused
    assert 'query_embedding.weight' not in sd


def test_converter_rejects_non_metr(tmp_path):
    from mmdet_detrx.utils.converters.common import ConversionError
    from mmdet_detrx.utils.converters.metr import convert_metr_to_finetune_with_report
    with pytest.raises(ConversionError, match='not a METR checkpoint'):
        convert_metr_to_finetune_with_report({'backbone.conv1.weight': torch.zeros(1)}, 'DeformableDETR', {})


# ------------------------------------------------------------------------------------------- drawing tool
def test_draw_metr_categories_writes_png(metr_checkpoint, tmp_path):
    src_path, _ = metr_checkpoint
    cfg = metr_cfg()
    config = write_config(tmp_path / 'metr_tiny.py', cfg)
    img = str(tmp_path / 'img.png')
    mmcv.imwrite(np.random.RandomState(0).randint(0, 255, (70, 90, 3), dtype=np.uint8), img)
    tool = load_tool('draw_metr_categories', 'tools/analysis/draw_metr_categories.py')
    out = str(tmp_path / 'cats.png')
    info = tool.draw_metr_categories(config, src_path, img, 'bccd', out, score_thr=0.0, max_boxes=5,
                                     img_scale=(96, 64))
    assert osp.getsize(out) > 1000
    assert sorted(n for n, _ in info['categories']) == ['Platelets', 'RBC', 'WBC']  # K=4 > 3 classes
    assert info['num_boxes'] == 5
    with pytest.raises(SystemExit, match="unknown label space 'voc'"):
        tool.draw_metr_categories(config, src_path, img, 'voc', out)


def _iou(a, b):
    """IoU of two xyxy boxes given as lists (brute force, independent of mmdet's bbox_overlaps)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_metr_query_report_counts_only_a_categorys_own_queries():
    """recall50 counts a gt as reached only by a query bound to its category; sizes and scores per category."""
    tool = load_tool('metr_query_report', 'tools/analysis/metr_query_report.py')
    t = torch.tensor
    gts = [[0., 0., 10., 10.], [20., 20., 40., 40.], [50., 50., 70., 60.]]
    img1 = dict(space='s', query_labels=t([0, 0, 1, 1, -1]),
                boxes=t([[0., 0., 10., 10.],     # cat 0 on gt 0: reached
                         [80., 80., 90., 90.],   # cat 0 elsewhere
                         [20., 20., 40., 40.],   # cat 1 exactly on cat 0's gt 1: must not count for cat 0
                         [51., 50., 71., 60.],   # cat 1 on gt 2, IoU 19/21
                         [20., 20., 40., 40.]]),  # unbound
                gt_labels=t([0, 0, 1]), gt_bboxes=t(gts), category_scores=t([0.9, 0.8, 0.1]))
    img2 = dict(space='s', query_labels=t([0, 0, 0, 1, 1]),
                boxes=t([[0., 0., 30., 30.]] * 3 + [[0., 0., 2., 2.]] * 2),
                gt_labels=t([2]), gt_bboxes=t([[5., 5., 9., 9.]]), category_scores=t([0.3, 0.2, 0.7]))
    res = tool.category_query_stats([img1, img2])['s']
    # brute force over the same data
    for c in (0, 1, 2):
        hits = total = 0
        for img in (img1, img2):
            for gb, gl in zip(img['gt_bboxes'].tolist(), img['gt_labels'].tolist()):
                if gl != c:
                    continue
                total += 1
                hits += any(_iou(qb, gb) >= 0.5 for qb, ql in zip(img['boxes'].tolist(), img['query_labels'].tolist())
                            if ql == c)
        assert res[c]['gts'] == total and res[c]['recall50'] == pytest.approx(hits / total)
    assert (res[0]['recall50'], res[1]['recall50'], res[2]['recall50']) == (0.5, 1.0, 0.0)
    assert res[2]['images_with_gt'] == 1 and res[2]['images_bound_when_present'] == 0 and res[2]['query_wh'] is None
    assert res[0]['query_wh'] == [20.0, 20.0]  # image means 10 and 30
    assert res[0]['query_wh_image_std'] == [pytest.approx(14.1, abs=0.05)] * 2  # std of (10, 30)
    assert res[0]['gt_wh'] == [15.0, 15.0] and res[1]['gt_wh'] == [20.0, 10.0]
    assert (res[0]['score_present'], res[0]['score_absent']) == (0.9, 0.3)
    assert (res[2]['score_present'], res[2]['score_absent']) == (0.7, 0.1)


def test_metr_query_report_cli_on_vendored_bccd_images(metr_checkpoint, tmp_path):
    """The tool runs a (tiny) METR on the config's BCCD validation images and counts their gts per class."""
    import json
    import xml.etree.ElementTree as ET
    src_path, _ = metr_checkpoint
    config = tmp_path / 'metr_tiny_bccd.py'
    base = osp.join(REPO, 'configs', 'metr', 'metr_lite0_1xb2-12e_bccd.py')
    Config(dict(_base_=[base], model=dict(_delete_=True, **metr_cfg()))).dump(str(config))
    out = tmp_path / 'report.json'
    tool = load_tool('metr_query_report', 'tools/analysis/metr_query_report.py')
    tool.main([str(config), src_path, '--max-images', '2', '--out', str(out)])
    res = json.loads(out.read_text())
    root = osp.join(REPO, 'data', 'bccd', 'BCCD')
    with open(osp.join(root, 'ImageSets', 'Main', 'val.txt')) as f:
        ids = f.read().split()[:2]
    expected = {}
    for img_id in ids:
        for obj in ET.parse(osp.join(root, 'Annotations', f'{img_id}.xml')).findall('object'):
            name = obj.find('name').text
            expected[name] = expected.get(name, 0) + 1
    per = res['label_spaces']['bccd']
    assert {n: s['gts'] for n, s in per.items() if s['gts']} == expected
    for s in per.values():
        assert s['recall50'] is None or 0.0 <= s['recall50'] <= 1.0
    with pytest.raises(SystemExit, match='not a METR config'):
        tool.main([osp.join(REPO, 'tests', 'configs', 'tiny_detr_coco128.py'), src_path])


# ------------------------------------------------------------------------------------------- shipped configs
def build_from_config(name, **overrides):
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'metr', name))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg['backbone']['init_cfg'] = None
    model_cfg.update(overrides)
    return cfg, MODELS.build(model_cfg)


@pytest.mark.parametrize('name,spaces,k', [('metr_r18_1xb2-12e_coco128-bccd.py', ['coco128', 'bccd'], 10),
                                           ('metr_r18_1xb2-12e_coco128.py', ['coco128'], 10),
                                           ('metr_r18_1xb2-12e_bccd.py', ['bccd'], 3)])
def test_small_configs_match_their_data(name, spaces, k):
    cfg, model = build_from_config(name)
    assert model.label_space_names == spaces == list(cfg.metr_label_spaces)
    assert model.num_categories == k and model.num_queries == 100
    classes = dict(coco128=80, bccd=3)
    assert {s: len(model.class_names(s)) for s in spaces} == {s: classes[s] for s in spaces}
    if 'bccd' in spaces:
        assert list(model.class_names('bccd')) == ['RBC', 'WBC', 'Platelets']  # BCCDDataset order


def test_finetune_config_receives_everything_but_the_classifier():
    """The converted small METR fills the whole fine-tuning Deformable DETR except its classifier and queries."""
    from mmdet_detrx.utils.converters.metr import convert_metr_to_finetune_with_report
    _, metr = build_from_config('metr_r18_1xb2-12e_coco128-bccd.py')
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'metr', 'deformable-detr_r18_1xb2-12e_bccd_from-metr.py'))
    target = MODELS.build(copy.deepcopy(cfg.model))
    report = convert_metr_to_finetune_with_report(metr.state_dict(), 'DeformableDETR', target.state_dict())
    assert {k.split('.')[0] if not k.startswith('bbox_head') else '.'.join(k.split('.')[:2])
            for k in report.missing} == {'query_embedding', 'bbox_head.cls_branches'}
    assert 'metr_r18_1xb2-12e_coco128-bccd' in cfg.load_from


def test_r50_config_builds_with_its_label_spaces():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'metr', 'metr_r50_8xb2-50e_coco-o365.py'))
    spaces = copy.deepcopy(cfg.model.label_spaces)
    assert set(spaces) == {'coco', 'o365'} and spaces['coco']['embeddings'].endswith('coco_minilm-l6.pt')
    spaces['o365']['embeddings'] = spaces['coco']['embeddings']  # the Objects365 file is generated by users
    _, model = build_from_config('metr_r50_8xb2-50e_coco-o365.py', label_spaces=spaces)
    assert model.embed_dims == 256 and model.num_queries == 300 and model.num_categories == 20
    assert model.encoder.num_layers == 6 and model.decoder.num_layers == 6
