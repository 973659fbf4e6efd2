"""Co-DETR over every base detector: DETR, DAB-DETR, Conditional DETR, DINO, Deformable DETR (with FCOS).

For each shipped small Co-X config and its plain X config: the converted Co-X weights load strictly into X and
predict the same boxes; one training step gives finite losses for every positive-query group and gradients that
reach the query generator; a checkpoint of X loads into Co-X (transformer equal, auxiliary parts untouched).
"""
import math
import os.path as osp

import pytest
import torch

from mmdet_detrx.models.detectors.co_query_decoders import (CoQueryDecoder, co_query_decoder_for,
                                                            register_co_query_decoder)
from mmdet_detrx.utils.converters.co_detr import convert_co_detr_to_base
from mmdet_detrx.utils.model_build import build_detector

from ..conftest import REPO
from ..helpers import train_batch

PAIRS = [  # (Co-DETR config, plain base config, decoder class name)
    ('co_detr/co-detr_lite0_1xb2-14e_bccd.py', 'detr/detr_lite0_1xb2-14e_bccd.py', 'DETRQueryDecoder'),
    ('co_detr/co-dab-detr_lite0_1xb2-14e_bccd.py', 'dab_detr/dab-detr_lite0_1xb2-14e_bccd.py', 'DABQueryDecoder'),
    ('co_detr/co-conditional-detr_lite0_1xb2-14e_bccd.py', 'conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py',
     'ConditionalQueryDecoder'),
    ('co_detr/co-dino_lite0_1xb2-14e_bccd.py', 'dino/dino_lite0_1xb2-14e_bccd.py', 'DINOQueryDecoder'),
    # auxiliary heads RPN + RoI and FCOS: the FCOS positives must reach the decoder too
    ('co_detr/co-deformable-detr_lite0_1xb2-14e_bccd.py', 'deformable_detr/deformable-detr_lite0_1xb2-14e_bccd.py',
     'DeformableQueryDecoder'),
]
IDS = [p[0].split('/')[1].split('_')[0] for p in PAIRS]


def _config(name):
    return osp.join(REPO, 'configs', name)


@pytest.fixture(scope='module', params=PAIRS, ids=IDS)
def pair(request):
    co_name, base_name, decoder = request.param
    torch.manual_seed(0)
    cfg, co = build_detector(_config(co_name))
    _, base = build_detector(_config(base_name))
    return cfg, co, base, decoder


def test_base_is_decoded_by_its_registered_decoder(pair):
    _, co, base, decoder = pair
    assert type(co.query_decoder).__name__ == decoder
    assert co.query_generator.out_channels == co.query_decoder.query_channels(co.query_head)


def test_co_detr_predicts_as_its_base(pair):
    cfg, co, base, _ = pair
    report = convert_co_detr_to_base(co.state_dict(), base.state_dict())  # strict check inside
    base.load_state_dict(report.state_dict, strict=True)
    co.eval(), base.eval()
    data = co.data_preprocessor(train_batch(cfg), False)
    with torch.no_grad():
        ours = co(**data, mode='predict')
        theirs = base(**data, mode='predict')
    for a, b in zip(ours, theirs):
        assert len(a.pred_instances) > 0
        torch.testing.assert_close(a.pred_instances.bboxes, b.pred_instances.bboxes)
        torch.testing.assert_close(a.pred_instances.scores, b.pred_instances.scores)


def test_training_step_trains_every_positive_query_group(pair):
    cfg, co, _, _ = pair
    co.train()
    co.zero_grad()
    data = co.data_preprocessor(train_batch(cfg), True)
    losses = co(**data, mode='loss')
    groups = {k.split('.')[0] for k in losses if '.q.' in k}
    assert groups == {f'aux{k}' for k in range(co.query_generator.num_groups)}
    group_loss = sum(v for k, v in losses.items() if '.q.' in k and 'loss' in k)
    assert math.isfinite(group_loss.item()) and group_loss.item() > 0
    group_loss.backward()
    for proj in co.query_generator.proj:
        assert proj.weight.grad is not None and proj.weight.grad.abs().sum() > 0
    decoder_grads = [p.grad for p in co.query_head.decoder.parameters() if p.grad is not None]
    assert decoder_grads and any(g.abs().sum() > 0 for g in decoder_grads)


def test_deformable_positive_queries_start_from_the_reference_kind_of_the_base(monkeypatch):
    """Single-stage Deformable DETR starts its queries from points, two-stage from boxes: the positive queries
    start from the same kind (box centre or box), so one regression branch / attention convention is trained.
    (mmdet's two-stage Deformable DETR needs 256 channels, so the two-stage case re-decodes each group of the
    small single-stage model with ``as_two_stage`` set.)"""
    from mmdet_detrx.models.detectors import co_query_decoders
    torch.manual_seed(0)
    cfg, co = build_detector(_config('co_detr/co-deformable-detr_lite0_1xb2-14e_bccd.py'))
    seen = []
    original = co_query_decoders.deformable_decoder_pass

    def spy(base, query, query_pos, reference_points, **kwargs):
        seen.append((base.as_two_stage, reference_points))
        return original(base, query, query_pos, reference_points, **kwargs)

    monkeypatch.setattr(co_query_decoders, 'deformable_decoder_pass', spy)
    main_refs, groups = [], []
    hook = co.query_head.decoder.register_forward_pre_hook(
        lambda m, args, kwargs: main_refs.append(kwargs['reference_points']), with_kwargs=True)
    decode = co_query_decoders.DeformableQueryDecoder.decode

    def decode_both_ways(self, base, group, *args):
        groups.append(group.boxes)
        base.as_two_stage = True
        try:
            decode(self, base, group, *args)
        finally:
            base.as_two_stage = False
        return decode(self, base, group, *args)

    monkeypatch.setattr(co_query_decoders.DeformableQueryDecoder, 'decode', decode_both_ways)
    co.train()
    co(**co.data_preprocessor(train_batch(cfg), True), mode='loss')
    hook.remove()
    assert main_refs[0].shape[-1] == 2  # the base's own queries start from points
    assert len(groups) == co.query_generator.num_groups and len(seen) == 2 * len(groups)
    for boxes, (two_stage, box_refs), (single_stage, point_refs) in zip(groups, seen[0::2], seen[1::2]):
        assert two_stage and not single_stage
        torch.testing.assert_close(box_refs, boxes)
        torch.testing.assert_close(point_refs, boxes[..., :2])


def test_base_checkpoint_loads_into_co_detr(pair):
    """``load_from`` of a base-detector checkpoint fills Co-DETR's base (not a silent half-load)."""
    _, co, base, _ = pair
    torch.manual_seed(1)
    with torch.no_grad():  # new values for every parameter (shared ones, e.g. tied box branches, stay tied)
        for p in base.parameters():
            p.normal_()
    source = {k: v.clone() for k, v in base.state_dict().items()}
    aux_before = {k: v.clone() for k, v in co.state_dict().items() if k.startswith(('rpn_head.', 'roi_head.'))}
    result = co.load_state_dict(dict(source), strict=False)
    assert not result.unexpected_keys
    assert all(k.startswith(('rpn_head.', 'roi_head.', 'bbox_head.', 'memory_neck.', 'query_generator.'))
               for k in result.missing_keys)
    loaded = co.state_dict()
    for key, value in source.items():
        co_key = key if key.startswith(('backbone.', 'neck.')) else 'query_head.' + key
        assert torch.equal(loaded[co_key], value), co_key
    assert all(torch.equal(loaded[k], v) for k, v in aux_before.items())


def test_unregistered_base_is_refused_with_the_way_out():
    from mmdet.registry import MODELS

    class NotADetr(torch.nn.Module):
        pass

    assert co_query_decoder_for(NotADetr()) is None

    @register_co_query_decoder(NotADetr)
    class Custom(CoQueryDecoder):
        pass

    try:
        assert isinstance(co_query_decoder_for(type('Sub', (NotADetr, ), {})()), Custom)
    finally:
        from mmdet_detrx.models.detectors import co_query_decoders
        co_query_decoders._DECODERS.pop(NotADetr)
    cfg = dict(type='DetrxCoDETR', query_head=dict(type='RetinaNet', backbone=dict(type='ResNet', depth=18),
                                                   neck=None, bbox_head=dict(type='RetinaHead', num_classes=3,
                                                                             in_channels=512)))
    with pytest.raises(NotImplementedError, match='register a CoQueryDecoder'):
        MODELS.build(cfg)
