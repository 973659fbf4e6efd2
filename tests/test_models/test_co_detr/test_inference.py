"""Co-DETR inference costs the base detector's: same detections by default, auxiliary heads on request."""
import copy

import pytest
import torch
from mmengine.config import Config

import mmdet_detrx  # noqa: F401  (registers the modules)
from mmdet.registry import MODELS
from .helpers import E, NUM_CLASSES, as_base_state_dict, build, co_detr_cfg, finite, make_batch


@pytest.mark.parametrize('kind, base_head', [('dino', 'DINOHead'), ('deformable', 'DeformableDETRHead')])
def test_predict_default_equals_base_detector(kind, base_head):
    cfg = co_detr_cfg('all', kind)
    co = build(cfg)
    base_cfg = copy.deepcopy(cfg['query_head'])
    base_cfg['bbox_head']['type'] = base_head
    base = MODELS.build(Config(dict(m=base_cfg)).m)
    base.load_state_dict(as_base_state_dict(co), strict=True)
    # Co-DETR switches its base's deformable attention to our CPU kernel (same function, another
    # summation order): bitwise equality needs the same module in the plain base
    from mmdet_detrx.models.layers.deform_attn_cpu import use_cpu_deformable_attn
    assert use_cpu_deformable_attn(base) > 0
    co.eval(), base.eval()
    calls = []
    for name in ('memory_neck', 'query_generator', 'rpn_head'):
        getattr(co, name).register_forward_hook(lambda *a, n=name: calls.append(n))
    for head in list(co.roi_head) + list(co.bbox_head):
        head.register_forward_hook(lambda *a: calls.append('aux'))
    inputs, samples = make_batch()
    with torch.no_grad():
        ours = co.predict(inputs, copy.deepcopy(samples))
        theirs = base.predict(inputs, copy.deepcopy(samples))
    assert calls == []  # no auxiliary branch runs at test time
    for a, b in zip(ours, theirs):
        assert len(a.pred_instances) == 20
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(a.pred_instances[key], b.pred_instances[key]), key


def test_loss_and_predict_with_deformable_detr_base():
    model = build(co_detr_cfg('all', 'deformable'))
    model.train()
    inputs, samples = make_batch()
    losses = model.loss(inputs, samples)
    assert finite(losses) and {'aux0.q.loss_cls', 'aux2.q.d0.loss_iou', 'enc_loss_cls'} <= set(losses)
    assert model.query_generator.out_channels == 2 * E  # split into positional and content queries


@pytest.mark.parametrize('eval_module, eval_index', [('one-stage', 0), ('one-stage', 1), ('two-stage', 0)])
def test_predict_with_auxiliary_head(aux_run, eval_module, eval_index):
    model = aux_run[0]
    model.eval()
    model.test_cfg.update(eval_module=eval_module, eval_index=eval_index)
    inputs, samples = make_batch()
    try:
        with torch.no_grad():
            results = model.predict(inputs, copy.deepcopy(samples))
            head_inputs = model.query_head.forward_transformer(model.extract_feat(inputs), samples)
    finally:
        model.test_cfg.update(eval_module='detr', eval_index=0)
        model.train()
    del head_inputs
    for res in results:
        pred = res.pred_instances
        assert 0 < len(pred) <= 20
        assert (pred.bboxes[:, 2:] >= pred.bboxes[:, :2]).all()
        assert (pred.bboxes[:, 2] <= 96 + 1e-3).all() and (pred.bboxes[:, 3] <= 64 + 1e-3).all()
        assert ((pred.labels >= 0) & (pred.labels < NUM_CLASSES)).all()


def test_eval_module_is_validated():
    with pytest.raises(AssertionError, match="eval_module must be one of \\('detr', 'one-stage', 'two-stage'\\)"):
        MODELS.build(co_detr_cfg('atss', test_cfg=dict(eval_module='rpn')))
