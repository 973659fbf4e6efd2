"""UP-DETR transfer: pre-training checkpoint -> DETR / Conditional DETR fine-tuning (converter, load_from, the
fine-tune configs), and the converter of the official dddzg/up-detr checkpoints.

Official state dicts are generated from the module structure of the reference code (models/updetr.py,
detr.py, transformer.py with ``--pre_norm``: torchvision ResNet under ``backbone.0.body``, ``input_proj``,
``query_embed``, nn.MultiheadAttention encoder / decoder layers, ``class_embed``, ``bbox_embed`` MLP,
``patch2query``, ``feature_align`` MLP), with random values.
"""
import copy
import math
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import load_checkpoint

import mmdet_detrx  # noqa: F401  (registers our modules)
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmdet_detrx.utils.converters import (COCO_CATEGORY_IDS, ConversionError, check_against_state_dict,
                                          convert_official_up_detr, convert_official_up_detr_with_report,
                                          convert_up_detr_to_finetune, convert_up_detr_to_finetune_with_report,
                                          describe_official_up_detr)
from tests.test_models.test_up_detr import D, model_cfg
from tests.test_tools.test_conditional_detr_converter import _lin, _ln, _mlp, _resnet_shapes, _sine

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
TOOL = osp.join(ROOT, 'tools', 'model_converters', 'up_detr_to_finetune.py')
PRETEXT_PREFIXES = ('patch_encoder.', 'bbox_head.feature_align.', 'bbox_head.fc_cls.')
# everything UP-DETR transfers: backbone, input projection, encoder, decoder, queries, box regression
TRANSFERRED_PREFIXES = ('backbone.', 'neck.', 'encoder.', 'decoder.', 'query_embedding.', 'bbox_head.reg_ffn.',
                        'bbox_head.fc_reg.')


@pytest.fixture(scope='module', autouse=True)
def mmdet_scope():
    register_all_modules(init_default_scope=True)


def build(cfg, seed):
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def finetune_cfg(kind, num_classes=3):
    """The tiny pre-training model of test_up_detr as its base detector with a ``num_classes`` head."""
    cfg = copy.deepcopy(model_cfg(kind=kind))
    cfg.pop('patch_encoder')
    head = cfg['bbox_head']
    for key in ('patch_channels', 'loss_feature'):
        head.pop(key)
    head['num_classes'] = num_classes
    if kind == 'cond':
        cfg['type'], head['type'] = 'CondDETR', 'CondDETRHead'
    else:
        cfg['type'], head['type'] = 'ModularDETR', 'DETRHead'
        head['loss_cls'] = dict(type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False, loss_weight=1.0,
                                class_weight=1.0)
    return cfg


def save_pretraining(tmp_path, kind):
    """An mmengine-style checkpoint of a tiny UP-DETR pre-training model whose float tensors all moved away
    from any initialisation (as after training)."""
    model = build(model_cfg(kind=kind), seed=1)
    gen = torch.Generator().manual_seed(5)
    state = {k: v + 0.5 + torch.rand(v.shape, generator=gen) if v.is_floating_point() else v
             for k, v in model.state_dict().items()}
    path = tmp_path / f'up_{kind}_epoch_20.pth'
    torch.save(dict(state_dict=state, meta=dict(epoch=20)), path)
    return path, state


# ---------------------------------------------------------------------------------------------------- transfer
@pytest.mark.parametrize('kind,base', [('detr', 'ModularDETR'), ('cond', 'CondDETR')])
def test_transfer_keeps_every_transformer_and_backbone_weight(tmp_path, kind, base):
    ckpt_path, pretrained = save_pretraining(tmp_path, kind)
    report = convert_up_detr_to_finetune_with_report(torch.load(ckpt_path, weights_only=True))
    assert report.info['base'] == base and report.info['num_queries'] == 20
    # dropped: exactly the pretext-only keys, each with a reason
    assert set(report.unused) == {k for k in pretrained if k.startswith(PRETEXT_PREFIXES)}
    assert any(k.startswith('patch_encoder.patch2query') for k in report.unused)
    assert all(report.unused[k] for k in report.unused)
    out_path = tmp_path / 'finetune_init.pth'
    torch.save(dict(state_dict=report.state_dict), out_path)

    model = build(finetune_cfg(kind), seed=2)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    diff = check_against_state_dict(report.state_dict, fresh)
    assert diff['unexpected'] == [] and diff['shape_mismatch'] == []
    assert sorted(diff['missing']) == ['bbox_head.fc_cls.bias', 'bbox_head.fc_cls.weight']

    load_checkpoint(model, str(out_path), map_location='cpu', strict=False)  # what `load_from` does
    loaded = model.state_dict()
    transferred = [k for k in loaded if k.startswith(TRANSFERRED_PREFIXES)]
    # every transformer part (encoder/decoder/query/input_proj; the sine positional encoding has no
    # parameters) and the whole backbone are among them
    for part in ('backbone.layer4.1.bn2.running_var', 'neck.convs.0.conv.weight', 'query_embedding.weight',
                 'encoder.layers.0.self_attn.attn.in_proj_weight', 'decoder.layers.1.ffn.layers.1.weight',
                 'decoder.post_norm.weight'):
        assert part in transferred
    assert set(transferred) | {'bbox_head.fc_cls.weight', 'bbox_head.fc_cls.bias'} == set(loaded)
    for k in transferred:
        assert torch.equal(loaded[k], pretrained[k]), k
        if loaded[k].is_floating_point():  # really loaded, not the fresh initialisation
            assert not torch.equal(loaded[k], fresh[k]), k
    for k in ('bbox_head.fc_cls.weight', 'bbox_head.fc_cls.bias'):  # the classifier keeps its initialisation
        assert torch.equal(loaded[k], fresh[k])
        assert loaded[k].shape[0] == (3 if kind == 'cond' else 4)


@pytest.mark.parametrize('pretrain,finetune,num_classes', [
    ('up-detr_r18_1xb4-20e_pretrain-coco128-bccd.py', 'up-detr_r18_1xb2-12e_finetune-bccd.py', 3),
    ('up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py', 'up-conditional-detr_r18_1xb2-12e_finetune-bccd.py',
     3),
    ('up-detr_r50_8xb32-60e_pretrain-imagenet.py', 'up-detr_r50_8xb2-300e_finetune-coco.py', 80),
    ('up-detr_r50_8xb32-60e_pretrain-imagenet.py', 'up-detr_r50_8xb2-150e_finetune-voc0712.py', 20),
    ('up-conditional-detr_r50_8xb32-60e_pretrain-imagenet.py', 'up-conditional-detr_r50_8xb2-300e_finetune-coco.py',
     80),
])
def test_finetune_configs_take_the_pretraining_weights(pretrain, finetune, num_classes):
    cfgs = [Config.fromfile(osp.join(ROOT, 'configs', 'up_detr', name)) for name in (pretrain, finetune)]
    ft_cfg = cfgs[1]
    assert ft_cfg.model.bbox_head.num_classes == num_classes and 'patch_encoder' not in ft_cfg.model
    assert ft_cfg.model.backbone.init_cfg is None
    pre_work_dir = osp.join('work_dirs', osp.splitext(pretrain)[0])
    assert ft_cfg.load_from == f'{pre_work_dir}/finetune_init.pth'
    models = []
    for cfg in cfgs:
        model_cfg_ = copy.deepcopy(cfg.model)
        model_cfg_.backbone.init_cfg = None
        models.append(build(model_cfg_, seed=0))
    converted = convert_up_detr_to_finetune(models[0].state_dict())
    diff = check_against_state_dict(converted, models[1].state_dict())
    assert diff == dict(missing=['bbox_head.fc_cls.weight', 'bbox_head.fc_cls.bias'], unexpected=[],
                        shape_mismatch=[])


@pytest.mark.parametrize('config,epochs,milestone', [
    ('up-detr_r50_8xb2-300e_finetune-coco.py', 300, 200),
    ('up-conditional-detr_r50_8xb2-300e_finetune-coco.py', 300, 200),
    ('up-detr_r50_8xb2-150e_finetune-voc0712.py', 150, 100),
])
def test_paper_finetune_schedules(config, epochs, milestone):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'up_detr', config))
    assert cfg.train_cfg.max_epochs == epochs
    assert [(s.type, s.end, s.milestones) for s in cfg.param_scheduler] == [('MultiStepLR', epochs, [milestone])]
    lr = cfg.optim_wrapper.optimizer.lr
    backbone_lr = lr * cfg.optim_wrapper.paramwise_cfg.custom_keys['backbone'].lr_mult
    assert (lr, backbone_lr) == (1e-4, 5e-5)  # paper: lr 1e-4, --lr_backbone 5e-5
    assert cfg.train_dataloader.batch_size * 8 == 16  # 8 GPUs x 2 images


def test_finetune_config_missing_checkpoint_is_a_clear_error(tmp_path):
    absent = tmp_path / 'absent' / 'finetune_init.pth'
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'),
         osp.join(ROOT, 'configs', 'up_detr', 'up-detr_r18_1xb2-12e_finetune-bccd.py'),
         '--work-dir', str(tmp_path / 'wd'), '--cfg-options', f'load_from={absent}'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert f"checkpoint file not found: '{absent}'" in proc.stderr


@pytest.mark.parametrize('src,match', [
    ({'state_dict': {'query_head.transformer.encoder.layers.0.attentions.0.value_proj.weight': torch.zeros(2, 2),
                     'roi_head.0.bbox_head.fc_cls.weight': torch.zeros(3, 2)}}, 'Co-DETR'),
    ({'a': torch.zeros(1), 'b': torch.ones(2)}, r"missing keys \['patch_encoder.patch2query.weight'"),
    ({'model': {'patch2query.weight': torch.zeros(2, 2), 'transformer.encoder.layers.0.linear1.weight':
                torch.zeros(2, 2)}}, 'official dddzg/up-detr checkpoint.*--official'),
])
def test_transfer_rejects_other_checkpoints(src, match):
    with pytest.raises(ConversionError, match='not an UP-DETR pre-training checkpoint.*' + match):
        convert_up_detr_to_finetune(src)


def test_transfer_rejects_a_finetuned_detector():
    model = build(finetune_cfg('detr'), seed=0)
    with pytest.raises(ConversionError, match='without the UP-DETR patch encoder'):
        convert_up_detr_to_finetune({'state_dict': model.state_dict()})
    with pytest.raises(ConversionError, match='expected a state dict'):
        convert_up_detr_to_finetune([1, 2])


# ---------------------------------------------------------------------------------------------------- official
def official_shapes(pretraining=True, pre_norm=True, d=D, n_enc=1, n_dec=2, ffn=64, nq=20, num_classes=2):
    """Key -> shape of the reference UPDETR(...) / DETR(...).state_dict() (ResNet-18 backbone)."""
    resnet, channels = _resnet_shapes(18)
    shapes = {f'backbone.0.body.{k}': v for k, v in resnet.items()}
    shapes['input_proj.weight'] = (d, channels, 1, 1)
    shapes['input_proj.bias'] = (d, )
    shapes['query_embed.weight'] = (nq, d)

    def linear(name, out_f, in_f):
        shapes[name + '.weight'] = (out_f, in_f)
        shapes[name + '.bias'] = (out_f, )

    def mha(name):
        shapes[name + '.in_proj_weight'] = (3 * d, d)
        shapes[name + '.in_proj_bias'] = (3 * d, )
        linear(name + '.out_proj', d, d)

    for i in range(n_enc):
        pre = f'transformer.encoder.layers.{i}.'
        mha(pre + 'self_attn')
        linear(pre + 'linear1', ffn, d)
        linear(pre + 'linear2', d, ffn)
        for n in (1, 2):
            linear(f'{pre}norm{n}', d, 0)
    for j in range(n_dec):
        pre = f'transformer.decoder.layers.{j}.'
        mha(pre + 'self_attn')
        mha(pre + 'multihead_attn')
        linear(pre + 'linear1', ffn, d)
        linear(pre + 'linear2', d, ffn)
        for n in (1, 2, 3):
            linear(f'{pre}norm{n}', d, 0)
    if pre_norm:
        linear('transformer.encoder.norm', d, 0)
    linear('transformer.decoder.norm', d, 0)
    linear('class_embed', num_classes + 1, d)
    for k, out_f in enumerate((d, d, 4)):
        linear(f'bbox_embed.layers.{k}', out_f, d)
    if pretraining:
        linear('patch2query', d, channels)
        linear('feature_align.layers.0', d, d)
        linear('feature_align.layers.1', channels, d)
    # LayerNorm parameters are 1-d
    return {k: (v[0], ) if len(v) == 2 and v[1] == 0 else v for k, v in shapes.items()}


def official_state_dict(seed=0, **kwargs):
    gen = torch.Generator().manual_seed(seed)
    sd = {k: torch.randn(shape, generator=gen) for k, shape in official_shapes(**kwargs).items()}
    for k in sd:
        if k.endswith('running_var'):
            sd[k] = sd[k].abs() + 0.5
    return sd


def expected_target(src_key):
    """Independently written name correspondence (reference -> ours)."""
    if src_key.startswith('backbone.0.body.'):
        return 'backbone.' + src_key[len('backbone.0.body.'):]
    module, param = src_key.rsplit('.', 1)
    fixed = {'input_proj': 'neck.convs.0.conv', 'query_embed': 'query_embedding', 'class_embed': 'bbox_head.fc_cls',
             'bbox_embed.layers.0': 'bbox_head.reg_ffn.layers.0.0', 'bbox_embed.layers.1': 'bbox_head.reg_ffn.layers.1',
             'bbox_embed.layers.2': 'bbox_head.fc_reg', 'transformer.decoder.norm': 'decoder.post_norm',
             'patch2query': 'patch_encoder.patch2query', 'feature_align.layers.0': 'bbox_head.feature_align.layers.0',
             'feature_align.layers.1': 'bbox_head.feature_align.layers.1'}
    if module in fixed:
        return f'{fixed[module]}.{param}'
    parts = src_key.split('.')  # transformer.{encoder,decoder}.layers.i.name...
    head, name, rest = '.'.join(parts[1:4]), parts[4], '.'.join(parts[5:])
    if name in ('self_attn', 'multihead_attn'):
        return f"{head}.{'self_attn' if name == 'self_attn' else 'cross_attn'}.attn.{rest}"
    if name in ('linear1', 'linear2'):
        return f"{head}.ffn.{'layers.0.0' if name == 'linear1' else 'layers.1'}.{rest}"
    if name.startswith('norm'):
        return f'{head}.norms.{int(name[4:]) - 1}.{rest}'
    raise AssertionError(f'unexpected official key {src_key}')


def test_official_pretraining_checkpoint_loads_strictly_into_updetr():
    src = official_state_dict()
    with pytest.warns(UserWarning, match='pre_norm.*post-norm'):
        converted = convert_official_up_detr({'model': src, 'epoch': 59})
    model = build(model_cfg(kind='detr'), seed=0)
    assert check_against_state_dict(converted, model.state_dict()) == dict(missing=[], unexpected=[],
                                                                           shape_mismatch=[])
    model.load_state_dict(converted, strict=True)
    report = convert_official_up_detr_with_report(src)
    assert set(report.unused) == {'transformer.encoder.norm.weight', 'transformer.encoder.norm.bias'}
    assert 'pre-norm' in report.unused['transformer.encoder.norm.weight']
    assert report.info['pretraining'] and report.info['pre_norm'] and report.info['target'] == 'UPDETR'
    loaded = model.state_dict()
    for k, v in src.items():
        if k.startswith('transformer.encoder.norm.'):
            continue
        target = expected_target(k)
        # reference pre-training classes: row 1 = query patch (label 1), row 2 = no-object
        expect = v[[1, 2]] if target.startswith('bbox_head.fc_cls.') else v
        assert torch.equal(loaded[target], expect), k
    nbt = [k for k in converted if k.endswith('num_batches_tracked')]
    assert nbt and all(converted[k].item() == 0 for k in nbt)


def test_official_finetuned_checkpoint_loads_into_detr_with_coco_rows():
    src = official_state_dict(seed=3, pretraining=False, pre_norm=False, num_classes=91)
    info = describe_official_up_detr(src)
    assert info['target'] == 'ModularDETR' and not info['pre_norm'] and info['num_classes'] == 92
    converted = convert_official_up_detr(src)  # post-norm source: nothing dropped, no warning
    model = build(finetune_cfg('detr', num_classes=80), seed=0)
    model.load_state_dict(converted, strict=True)
    rows = list(COCO_CATEGORY_IDS) + [91]  # the no-object row stays last
    assert torch.equal(converted['bbox_head.fc_cls.weight'], src['class_embed.weight'][rows])
    assert torch.equal(convert_official_up_detr(src, class_mapping='none')['bbox_head.fc_cls.bias'],
                       src['class_embed.bias'])


def _mha(sd, name, q, k, v, nhead, key_padding_mask=None):
    d = q.shape[-1]
    return F.multi_head_attention_forward(
        q, k, v, d, nhead, sd[name + '.in_proj_weight'], sd[name + '.in_proj_bias'], None, None, False, 0.0,
        sd[name + '.out_proj.weight'], sd[name + '.out_proj.bias'], training=False,
        key_padding_mask=key_padding_mask, need_weights=False)[0]


def reference_post_norm_forward(sd, src, mask, nhead, n_enc, n_dec):
    """Logits and boxes (n_dec, B, nq, .) of the reference DETR (post-norm: forward_post) from backbone
    features; written from the reference transformer.py / detr.py."""
    x = F.conv2d(src, sd['input_proj.weight'], sd['input_proj.bias'])
    bs, d = x.shape[:2]
    not_mask = (~mask).float()
    y_embed, x_embed = not_mask.cumsum(1), not_mask.cumsum(2)
    y_embed = y_embed / (y_embed[:, -1:, :] + 1e-6) * 2 * math.pi
    x_embed = x_embed / (x_embed[:, :, -1:] + 1e-6) * 2 * math.pi
    pos = _sine((y_embed, x_embed), d // 2).permute(0, 3, 1, 2).flatten(2).permute(2, 0, 1)
    mem, kpm = x.flatten(2).permute(2, 0, 1), mask.flatten(1)
    for i in range(n_enc):
        pre = f'transformer.encoder.layers.{i}.'
        mem = _ln(sd, pre + 'norm1', mem + _mha(sd, pre + 'self_attn', mem + pos, mem + pos, mem, nhead, kpm))
        mem = _ln(sd, pre + 'norm2', mem + _lin(sd, pre + 'linear2', F.relu(_lin(sd, pre + 'linear1', mem))))
    query_pos = sd['query_embed.weight'][:, None].repeat(1, bs, 1)
    tgt, hs = torch.zeros_like(query_pos), []
    for j in range(n_dec):
        pre = f'transformer.decoder.layers.{j}.'
        q = tgt + query_pos
        tgt = _ln(sd, pre + 'norm1', tgt + _mha(sd, pre + 'self_attn', q, q, tgt, nhead))
        tgt = _ln(sd, pre + 'norm2', tgt + _mha(sd, pre + 'multihead_attn', tgt + query_pos, mem + pos, mem, nhead,
                                                kpm))
        tgt = _ln(sd, pre + 'norm3', tgt + _lin(sd, pre + 'linear2', F.relu(_lin(sd, pre + 'linear1', tgt))))
        hs.append(_ln(sd, 'transformer.decoder.norm', tgt))
    hs = torch.stack(hs).transpose(1, 2)
    return _lin(sd, 'class_embed', hs), _mlp(sd, 'bbox_embed', hs, 3).sigmoid()


def test_official_post_norm_detr_matches_reference_forward():
    """The renaming is semantically right (a swap of same-shape modules would pass a strict load)."""
    from mmdet.structures import DetDataSample
    src = official_state_dict(seed=4, pretraining=False, pre_norm=False, num_classes=91)
    for k, v in src.items():  # trained-like magnitudes: fan-in scaled weights, norm weights near 1
        if v.dim() >= 2 and k != 'query_embed.weight':
            src[k] = v / math.sqrt(math.prod(v.shape[1:]))
        elif 'norm' in k and k.endswith('.weight'):
            src[k] = 1 + 0.1 * v
    model = build(finetune_cfg('detr', num_classes=91), seed=0)
    model.load_state_dict(convert_official_up_detr(src, class_mapping='none'), strict=True)
    model.eval()
    torch.manual_seed(0)
    feats = torch.randn(2, 512, 4, 5)
    batch_shape, img_shapes = (32, 40), [(32, 40), (24, 30)]  # second image padded -> masked keys
    img_mask = torch.ones(2, *batch_shape, dtype=torch.bool)
    samples = []
    for b, shape in enumerate(img_shapes):
        samples.append(DetDataSample(metainfo=dict(batch_input_shape=batch_shape, img_shape=shape)))
        img_mask[b, :shape[0], :shape[1]] = False
    feat_mask = F.interpolate(img_mask[None].float(), size=feats.shape[-2:]).bool()[0]
    with torch.no_grad():
        ref_logits, ref_boxes = reference_post_norm_forward(src, feats, feat_mask, nhead=4, n_enc=1, n_dec=2)
        logits, boxes = model.bbox_head(**model.forward_transformer(model.neck((feats, )), samples))
    torch.testing.assert_close(logits, ref_logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(boxes, ref_boxes, rtol=1e-4, atol=1e-5)

    # sharp enough to catch the decoder's self- and cross-attention swapped (same shapes)
    swapped = dict(src)
    for k in [k for k in src if k.startswith('transformer.decoder.layers.1.self_attn.')]:
        other = k.replace('self_attn', 'multihead_attn')
        swapped[k], swapped[other] = src[other], src[k]
    model.load_state_dict(convert_official_up_detr(swapped, class_mapping='none'), strict=True)
    with torch.no_grad():
        wrong, _ = model.bbox_head(**model.forward_transformer(model.neck((feats, )), samples))
    assert (wrong[-1] - logits[-1]).abs().max() > 1e-2


def test_official_errors():
    src = official_state_dict()
    src['transformer.decoder.layers.0.mystery.weight'] = torch.zeros(2)
    with pytest.raises(ConversionError, match=r'1 source key\(s\) have no counterpart in our UPDETR:'
                       r'\n  transformer.decoder.layers.0.mystery.weight'):
        convert_official_up_detr(src)
    with pytest.warns(UserWarning, match='dropped'):
        convert_official_up_detr(src, allow_unused=True)
    src = official_state_dict()
    del src['transformer.decoder.layers.1.multihead_attn.in_proj_bias']
    with pytest.raises(ConversionError, match='decoder.layers.1.cross_attn.attn.in_proj_bias'):
        convert_official_up_detr(src)
    cond_like = {'model': {'query_embed.weight': torch.zeros(2, 2),
                           'transformer.decoder.layers.0.ca_qpos_sine_proj.weight': torch.zeros(2, 2)}}
    with pytest.raises(ConversionError, match='not an official UP-DETR / DETR checkpoint.*Conditional DETR'):
        convert_official_up_detr(cond_like)
    with pytest.raises(ConversionError, match='not an official UP-DETR.*mmdet-layout'):
        convert_official_up_detr(build(model_cfg(kind='detr'), seed=0).state_dict())


# ---------------------------------------------------------------------------------------------------- CLI
def _run_tool(*argv):
    return subprocess.run([sys.executable, TOOL, *map(str, argv)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_cli_finetune_end_to_end(tmp_path):
    ckpt_path, pretrained = save_pretraining(tmp_path, 'cond')
    cfg_path = tmp_path / 'tiny_finetune.py'
    Config(dict(default_scope='mmdet', custom_imports=dict(imports=['mmdet_detrx']),
                model=finetune_cfg('cond'))).dump(str(cfg_path))
    dst = tmp_path / 'finetune_init.pth'
    proc = _run_tool(ckpt_path, dst, '--config', cfg_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'dropped 8 key(s)' in proc.stdout and 'patch_encoder.patch2query.weight: pretext only' in proc.stdout
    assert 'for CondDETR' in proc.stdout
    saved = torch.load(dst, weights_only=True)
    assert 'bbox_head.feature_align.layers.0.weight' in saved['meta']['dropped']
    assert set(saved['state_dict']) == {k for k in pretrained if not k.startswith(PRETEXT_PREFIXES)}

    bad = tmp_path / 'random.pth'
    torch.save({'state_dict': {'foo.weight': torch.zeros(2)}}, bad)
    proc = _run_tool(bad, tmp_path / 'out.pth')
    assert proc.returncode != 0 and 'not an UP-DETR pre-training checkpoint' in proc.stderr
    assert not (tmp_path / 'out.pth').exists()


def test_cli_official_with_config(tmp_path):
    src_path = tmp_path / 'up-detr-pretrain.pth'
    torch.save({'model': official_state_dict(), 'epoch': 59}, src_path)
    cfg_path = tmp_path / 'tiny_updetr.py'
    Config(dict(default_scope='mmdet', custom_imports=dict(imports=['mmdet_detrx']),
                model=model_cfg(kind='detr'))).dump(str(cfg_path))
    proc = _run_tool(src_path, tmp_path / 'up.pth', '--official', '--config', cfg_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'pre-norm' in proc.stdout and 'for UPDETR' in proc.stdout
    model = build(model_cfg(kind='detr'), seed=0)
    load_checkpoint(model, str(tmp_path / 'up.pth'), map_location='cpu', strict=True)
