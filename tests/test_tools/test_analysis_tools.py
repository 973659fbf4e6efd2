"""The picture tools of tools/analysis on tiny models: PNGs written, and the values they draw checked."""
import importlib
import os.path as osp
import sys

import mmcv
import numpy as np
import pytest
import torch

from tests.conftest import REPO, TINY_CONFIG, assert_ok, run_cmd

TINY_CO_CONFIG = osp.join(REPO, 'tests', 'configs', 'tiny_co_conditional_detr_coco128.py')
IMAGE = osp.join(REPO, 'data', 'coco128', 'train2017', '000000000009.jpg')


def _tool(name):
    return importlib.import_module(f'tools.analysis.{name}')


def assert_valid_png(path):
    """A real, non-trivial PNG: signature, > 1 KB, decodable, more than one colour."""
    assert osp.isfile(path), path
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n', f'{path} is not a PNG'
    assert osp.getsize(path) > 1024, osp.getsize(path)
    img = mmcv.imread(path)
    assert img is not None and img.ndim == 3
    assert len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 1, 'single-colour image'


def _save_random_checkpoint(config, path, seed=0):
    from mmdet.apis import init_detector
    torch.manual_seed(seed)
    model = init_detector(config, None, device='cpu', cfg_options={'model.backbone.init_cfg': None})
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': dict(model.dataset_meta)}}, path)
    return model


@pytest.fixture(scope='module')
def cond_ckpt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('cond') / 'tiny_cond_detr.pth')
    _save_random_checkpoint(TINY_CONFIG, path)
    return path


@pytest.fixture(scope='module')
def co_ckpt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('co') / 'tiny_co_cond_detr.pth')
    _save_random_checkpoint(TINY_CO_CONFIG, path)
    return path


# ------------------------------------------------------------------ draw_predictions.py
def test_draw_predictions(cond_ckpt, tmp_path, capsys):
    tool = _tool('draw_predictions')
    tool.main([TINY_CONFIG, cond_ckpt, IMAGE, '--out-dir', str(tmp_path), '--score-thr', '0', '--max-boxes', '4'])
    out = osp.join(str(tmp_path), '000000000009_pred.png')
    assert_valid_png(out)
    assert f'{out}: 4 boxes' in capsys.readouterr().out  # 10 detections (max_per_img), the 4 best drawn


# ------------------------------------------------------------------ draw_cond_detr_attention.py
def _cross_attention_inputs(use_query_pos, batch_size=2, num_queries=5, num_keys=12, dims=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = dict(query=torch.randn(batch_size, num_queries, dims, generator=g),
                  key=torch.randn(batch_size, num_keys, dims, generator=g),
                  key_pos=torch.randn(batch_size, num_keys, dims, generator=g),
                  ref_sine_embed=torch.randn(batch_size, num_queries, dims, generator=g))
    if use_query_pos:
        inputs['query_pos'] = torch.randn(batch_size, num_queries, dims, generator=g)
    padding = torch.zeros(batch_size, num_keys, dtype=torch.bool)
    padding[1, -3:] = True
    inputs['key_padding_mask'] = padding
    return inputs


@pytest.mark.parametrize('use_query_pos', [True, False])
def test_cross_attention_maps_reproduce_module(use_query_pos):
    """The recomputed combined weights give the module's output; the spatial part matches a per-head loop;
    recording with a forward hook leaves the output unchanged."""
    from mmdet_detrx.models.layers.conditional_attention import CondDETRCrossAttention
    tool = _tool('draw_cond_detr_attention')
    torch.manual_seed(0)
    attn = CondDETRCrossAttention(32, 4, use_query_pos=use_query_pos, attn_drop=0.1, proj_drop=0.1).eval()
    inputs = _cross_attention_inputs(use_query_pos)
    plain = attn(**inputs)
    with tool.record_forward(attn) as rec:
        hooked = attn(**inputs)
    assert torch.equal(plain, hooked)
    assert set(rec['inputs']) >= {'query', 'key', 'key_pos', 'ref_sine_embed', 'key_padding_mask'}

    maps = tool.cross_attention_maps(attn, **rec['inputs'])
    B, Q, K, H, D = 2, 5, 12, 4, 32
    for kind in tool.MAP_KINDS:
        assert maps[kind].shape == (B, H, Q, K)
        torch.testing.assert_close(maps[kind].sum(-1), torch.ones(B, H, Q))
        assert torch.all(maps[kind][1, ..., -3:] == 0), 'padded keys must get no weight'
    v = attn.v_proj(inputs['key']).view(B, K, H, D // H).transpose(1, 2)
    out = (maps['combined'] @ v).transpose(1, 2).reshape(B, Q, D)
    torch.testing.assert_close(inputs['query'] + attn.out_proj(out), plain, rtol=1e-5, atol=1e-5)

    s = attn.qpos_sine_proj(inputs['ref_sine_embed'])
    p_k = attn.kpos_proj(inputs['key_pos'])
    d = D // H
    for b in range(B):
        for h in range(H):
            logits = s[b, :, h * d:(h + 1) * d] @ p_k[b, :, h * d:(h + 1) * d].T / (2 * d)**0.5
            logits[:, inputs['key_padding_mask'][b]] = float('-inf')
            torch.testing.assert_close(maps['spatial'][b, h], logits.softmax(-1).detach())


def test_draw_cond_detr_attention(cond_ckpt, tmp_path):
    tool = _tool('draw_cond_detr_attention')
    out = str(tmp_path / 'attn.png')
    res = tool.main([TINY_CONFIG, cond_ckpt, IMAGE, '--out', out, '--topk', '3', '--layer', '0'])
    assert_valid_png(out)
    assert res['layer'] == 0 and len(res['queries']) == 3
    assert torch.all(res['scores'][:-1] >= res['scores'][1:])
    h, w = res['feat_shape']
    for kind in tool.MAP_KINDS:  # 3 queries x 4 heads, each a distribution over the h * w memory positions
        assert res['maps'][kind].shape == (3, 4, h * w)
        torch.testing.assert_close(res['maps'][kind].sum(-1), torch.ones(3, 4))
    ori_h, ori_w = mmcv.imread(IMAGE).shape[:2]
    boxes = res['boxes']
    assert boxes.shape == (3, 4) and np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])
    assert np.all(boxes >= 0) and np.all(boxes[:, [0, 2]] <= ori_w) and np.all(boxes[:, [1, 3]] <= ori_h)
    # the best query's box and score are the detector's top prediction
    pred = res['pred_instances']
    top = int(pred.scores.argmax())
    torch.testing.assert_close(torch.as_tensor(boxes[0], dtype=torch.float32), pred.bboxes[top], rtol=0, atol=1e-3)
    torch.testing.assert_close(res['scores'][0], pred.scores[top])

    with pytest.raises(ValueError, match='--layer 1 out of range'):
        tool.main([TINY_CONFIG, cond_ckpt, IMAGE, '--out', out, '--layer', '1'])


# ------------------------------------------------------------------ draw_co_detr_positive_queries.py
def test_draw_co_detr_positive_queries(co_ckpt, tmp_path, monkeypatch):
    """Drawn positives per head == the valid queries of the group the generator packed (recorded here
    independently of the tool) == the positives the head returned (below max_queries)."""
    from mmdet_detrx.models.layers.co_detr_layers import DetrxCoPositiveQueryGenerator
    tool = _tool('draw_co_detr_positive_queries')
    packed = []
    original = DetrxCoPositiveQueryGenerator.pack

    def spy(self, positives, batch_img_metas, num_classes):
        group = original(self, positives, batch_img_metas, num_classes)
        packed.append((len(positives[0].labels), group, batch_img_metas[0]['img_shape']))
        return group

    monkeypatch.setattr(DetrxCoPositiveQueryGenerator, 'pack', spy)
    out = str(tmp_path / 'pos.png')
    res = tool.main([TINY_CO_CONFIG, co_ckpt, '000000000009.jpg', '--out', out])
    assert_valid_png(out)
    assert res['index'] == 0 and osp.basename(res['img_path']) == '000000000009.jpg'
    assert [h['name'] for h in res['heads']] == ['aux0 RPN+StandardRoI', 'aux1 ATSS']
    assert len(packed) == 2 and len(res['gt_bboxes']) > 0
    for head, (num_positives, group, (img_h, img_w)) in zip(res['heads'], packed):
        num_valid = int(group.valid[0].sum())
        assert 0 < head['num_drawn'] == head['num_queries'] == num_valid
        assert head['num_positives'] == num_positives and num_valid == min(num_positives, 100)
        assert head['boxes'].shape == (num_valid, 4)
        cx = (head['boxes'][:, 0] + head['boxes'][:, 2]) / 2 / img_w
        torch.testing.assert_close(cx, group.boxes[0, :num_valid, 0])

    with pytest.raises(FileNotFoundError, match='is not in the training set'):
        tool.main([TINY_CO_CONFIG, co_ckpt, 'not_in_coco128.jpg', '--out', out])


def test_draw_co_detr_positive_queries_cli_without_checkpoint(tmp_path):
    out = str(tmp_path / 'pos.png')
    proc = run_cmd([sys.executable, osp.join('tools', 'analysis', 'draw_co_detr_positive_queries.py'),
                    TINY_CO_CONFIG, '1', '--out', out], env={'OMP_NUM_THREADS': '1'})
    assert_ok(proc)
    assert_valid_png(out)
    assert 'image 1 (' in proc.stdout and 'aux1 ATSS:' in proc.stdout and 'positive queries' in proc.stdout
