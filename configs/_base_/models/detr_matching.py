# The box losses and the one-to-one matching that the sigmoid-classification DETR family (Conditional, Deformable,
# DAB, DINO and their Co-DETR / UP-DETR / METR variants) shares, as variables: `loss_bbox={{_base_.l1_loss_bbox}},
# loss_iou={{_base_.giou_loss_iou}}` in a head, `train_cfg=dict(assigner={{_base_.focal_hungarian_assigner}})`
# (mmdet's per-image HungarianAssigner) or `{{_base_.batched_focal_hungarian_assigner}}` (ours, same matching).
l1_loss_bbox = dict(type='L1Loss', loss_weight=5.0)
giou_loss_iou = dict(type='GIoULoss', loss_weight=2.0)
focal_hungarian_assigner = dict(
    type='HungarianAssigner',
    match_costs=[
        dict(type='FocalLossCost', weight=2.0),
        dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
        dict(type='IoUCost', iou_mode='giou', weight=2.0)
    ])
batched_focal_hungarian_assigner = dict(focal_hungarian_assigner, type='BatchedHungarianAssigner')
# DETR's own matching: softmax classification cost instead of the focal one (per image, and batched as our DETR
# configs use)
softmax_hungarian_assigner = dict(
    focal_hungarian_assigner,
    match_costs=[dict(type='ClassificationCost', weight=1.0)] + focal_hungarian_assigner['match_costs'][1:])
batched_softmax_hungarian_assigner = dict(softmax_hungarian_assigner, type='BatchedHungarianAssigner')
