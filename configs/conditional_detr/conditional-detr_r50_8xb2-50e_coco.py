# Conditional DETR, ResNet-50, 50 epochs on COCO (paper Table 1; official repo: Atten4Vis/ConditionalDETR).
# mmdet's own config (model sizes, data pipeline, AdamW 1e-4 with backbone x0.1 and clip 0.1, 50 epochs with lr
# x0.1 at 40, runtime) with mmdet_detrx registry components: every part (encoder / decoder layers, attentions,
# FFNs, positional encoding, assigner) can be swapped by its `type` (the parts' default types are ours). The state
# dict equals mmdet's `ConditionalDETR`, so mmdet model-zoo checkpoints load with `load_from=...`.
# Differences from mmdet's conditional-detr_r50_8xb2-50e_coco.py, following the official code:
#   * proj_drop=0.1 in the decoder attentions (official: dropout 0.1 on both attention residuals; mmdet: none);
#   * the head zero-initializes its last box layer (CondDETRHead(zero_init_reg=True)), as the official code;
#   * BatchedHungarianAssigner (same matching as HungarianAssigner, costs computed for the whole batch);
#   * FastDropoutFFN: mmcv's FFN (same parameters) with a cheaper dropout mask on CPU (no change on GPU).
#   bash tools/dist_train.sh configs/conditional_detr/conditional-detr_r50_8xb2-50e_coco.py 8
_base_ = ['mmdet::conditional_detr/conditional-detr_r50_8xb2-50e_coco.py', '../_base_/models/detr_matching.py']
custom_imports = dict(imports=['mmdet_detrx', 'mmdet_detrx.checkpoint_loading'], allow_failed_imports=False)

model = dict(
    type='CondDETR',
    encoder=dict(layer_cfg=dict(ffn_cfg=dict(type='FastDropoutFFN'))),
    # the object query enters the cross-attention of the first layer only (keep_query_pos=False, the default)
    decoder=dict(layer_cfg=dict(self_attn_cfg=dict(proj_drop=0.1), cross_attn_cfg=dict(proj_drop=0.1))),
    bbox_head=dict(type='CondDETRHead', loss_bbox={{_base_.l1_loss_bbox}}, loss_iou={{_base_.giou_loss_iou}}),
    train_cfg=dict(assigner={{_base_.batched_focal_hungarian_assigner}}))

# The decoder keeps mmdet's parameter layout, in which the query-position projection of the cross-attention
# exists in every layer but only the first uses it (keep_query_pos=False): DDP must allow unused parameters.
find_unused_parameters = True
# 8 GPUs x 2 images, as the official runs
auto_scale_lr = dict(base_batch_size=16)
