"""The positives of the auxiliary heads (the boxes that become positive query groups) follow each head's own
assignment."""
import copy

import torch

import mmdet_detrx  # noqa: F401  (registers the modules)
from mmdet.models.dense_heads import ATSSHead, FCOSHead
from mmdet.structures.bbox import bbox_overlaps
from mmdet_detrx.models.layers.co_detr_layers import pack_positive_queries
from .helpers import NUM_CLASSES, STRIDES, gt_index, random_positives


def test_roi_positives_are_assigned_proposals(aux_run):
    model, samples, _, _, positives = aux_run
    for pos, sample in zip(positives[0], samples):
        gt = sample.gt_instances
        assert len(pos) >= len(gt)  # the ground truths are added as proposals
        idx = gt_index(pos.gt_bboxes, gt)
        assert torch.equal(pos.labels, gt.labels[idx])
        ious = bbox_overlaps(pos.priors, pos.gt_bboxes, is_aligned=True)
        assert (ious >= 0.5 - 1e-4).all()  # rcnn pos_iou_thr


def test_atss_positives_match_atss_targets(aux_run):
    model, samples, feats, _, positives = aux_run
    head = model.bbox_head[0]
    metas = [s.metainfo for s in samples]
    anchors, flags = head.get_anchors([f.shape[-2:] for f in feats], metas, device=feats[0].device)
    targets = ATSSHead.get_targets(head, anchors, flags, [s.gt_instances for s in samples], metas)  # mmdet's own
    labels = torch.cat(targets[1], dim=1)
    for i, (pos, sample) in enumerate(zip(positives[1], samples)):
        assert len(pos) == int((labels[i] < NUM_CLASSES).sum()) > 0
        idx = gt_index(pos.gt_bboxes, sample.gt_instances)
        assert torch.equal(pos.labels, sample.gt_instances.labels[idx])
        wh = pos.priors[:, 2:] - pos.priors[:, :2]
        assert torch.allclose(wh[:, 0], wh[:, 1])
        assert set(torch.round(wh[:, 0]).long().tolist()) <= {8 * s for s in STRIDES}  # octave_base_scale=8


def test_fcos_positives_are_point_boxes_inside_their_gt(aux_run):
    model, samples, feats, _, positives = aux_run
    head = model.bbox_head[1]
    points = head.prior_generator.grid_priors([f.shape[-2:] for f in feats], device=feats[0].device)
    labels, _ = FCOSHead.get_targets(head, points, [s.gt_instances for s in samples])  # mmdet's own targets
    num_pos = sum(int((lvl.view(len(samples), -1) < NUM_CLASSES).sum(1)[0]) for lvl in labels)
    assert len(positives[2][0]) == num_pos
    for pos, sample in zip(positives[2], samples):
        assert len(pos) > 0
        idx = gt_index(pos.gt_bboxes, sample.gt_instances)
        assert torch.equal(pos.labels, sample.gt_instances.labels[idx])
        wh = pos.priors[:, 2:] - pos.priors[:, :2]
        assert torch.allclose(wh[:, 0], wh[:, 1])
        assert set(torch.round(wh[:, 0]).long().tolist()) <= {8 * s for s in STRIDES}
        centers = (pos.priors[:, :2] + pos.priors[:, 2:]) / 2
        assert ((centers > pos.gt_bboxes[:, :2]) & (centers < pos.gt_bboxes[:, 2:])).all()


def test_padding_queries_do_not_change_real_queries(aux_run):
    model, samples, feats, dec_in, _ = aux_run
    metas = [s.metainfo for s in samples]
    group = pack_positive_queries([random_positives(2, 0), random_positives(5, 1)], metas, NUM_CLASSES, min_queries=9)
    with torch.no_grad():
        out = model.decode_query_group(group, model.query_generator(group.boxes, 0, feats, metas), dec_in)
        moved = copy.deepcopy(group)
        moved.boxes[~moved.valid] = torch.rand(int((~moved.valid).sum()), 4) * 0.5 + 0.25
        out_moved = model.decode_query_group(moved, model.query_generator(moved.boxes, 0, feats, metas), dec_in)
        unmasked = copy.deepcopy(moved)
        unmasked.valid[:] = True
        out_unmasked = model.decode_query_group(unmasked, model.query_generator(unmasked.boxes, 0, feats, metas),
                                                dec_in)
    valid = group.valid
    real, real_moved = out['hidden_states'][:, valid], out_moved['hidden_states'][:, valid]
    assert torch.allclose(real, real_moved, atol=1e-5)
    assert not torch.allclose(out['hidden_states'][:, ~valid], out_moved['hidden_states'][:, ~valid], atol=1e-3)
    # without the mask the same change would leak into the real queries
    assert not torch.allclose(real, out_unmasked['hidden_states'][:, valid], atol=1e-3)
