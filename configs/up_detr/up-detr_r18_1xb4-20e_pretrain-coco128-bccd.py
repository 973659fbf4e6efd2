# UP-DETR pre-training of the small plain DETR (../_base_/models/detr_r18.py, the settings of the small
# Conditional DETR) on the vendored coco128 + BCCD images without their labels; see
# ./up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py for the data and the schedule.
_base_ = [
    '../_base_/models/detr_r18.py',
    '../_base_/datasets/up-detr_pretrain_coco128-bccd.py',
    '../_base_/schedules/up-detr_pretrain_20e.py',
    '../_base_/default_runtime.py',
]
default_scope = 'mmdet'
custom_imports = dict(imports=['mmdet_detrx', 'mmdet_detrx.checkpoint_loading'], allow_failed_imports=False)

backbone_channels = 512
model = dict(
    type='UPDETR',
    patch_encoder=dict(type='QueryPatchEncoder', in_channels=backbone_channels, num_patches={{ _base_.num_patches }},
                       mask_ratio=0.1, query_shuffle=True),
    bbox_head=dict(type='UPDETRHead', num_classes=1, patch_channels=backbone_channels,
                   loss_feature=dict(type='FeatureReconstructionLoss', loss_weight=1.0)))
default_hooks = dict(checkpoint=dict(interval=5))
