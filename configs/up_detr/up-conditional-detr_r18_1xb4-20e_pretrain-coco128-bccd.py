# UP-DETR pre-training of the small Conditional DETR (../_base_/models/conditional-detr_r18.py: ResNet-18,
# 128-d, 2+2 layers, 100 queries) on the vendored coco128 + BCCD images without their labels, for CPU runs:
#   python tools/train.py configs/up_detr/up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py
# 10 query patches of 64x64 px per image, 100 queries in 10 groups, frozen ImageNet ResNet-18 (offline:
# --cfg-options model.backbone.init_cfg=None gives a frozen random CNN: the pipeline runs, the features mean
# little). Fine-tune the result with load_from=work_dirs/.../epoch_20.pth in a Conditional DETR config.
_base_ = [
    '../_base_/models/conditional-detr_r18.py',
    '../_base_/datasets/up-detr_pretrain_coco128-bccd.py',
    '../_base_/schedules/up-detr_pretrain_20e.py',
    '../_base_/default_runtime.py',
]
default_scope = 'mmdet'
custom_imports = dict(imports=['mmdet_detrx', 'mmdet_detrx.checkpoint_loading'], allow_failed_imports=False)

backbone_channels = 512
model = dict(
    type='UPCondDETR',
    patch_encoder=dict(type='QueryPatchEncoder', in_channels=backbone_channels, num_patches={{ _base_.num_patches }},
                       mask_ratio=0.1, query_shuffle=True),
    bbox_head=dict(type='UPCondDETRHead', num_classes=1, patch_channels=backbone_channels,
                   loss_feature=dict(type='FeatureReconstructionLoss', loss_weight=1.0)))
default_hooks = dict(checkpoint=dict(interval=5))
