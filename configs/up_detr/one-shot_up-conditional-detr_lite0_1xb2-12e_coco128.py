# One-shot detection from the UP-DETR pre-training with the frozen ImageNet EfficientNet-Lite0
# (./up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py); episodes, classes and metric as
# ./one-shot_up-conditional-detr_r18_1xb2-12e_coco128.py (and its 12-epoch schedule).
#   1. python tools/train.py configs/up_detr/up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py
#   2. python tools/train.py configs/up_detr/one-shot_up-conditional-detr_lite0_1xb2-12e_coco128.py
_base_ = ['./one-shot_up-conditional-detr_r18_1xb2-12e_coco128.py', '../_base_/models/lite0_backbone.py']
backbone_channels = 320
pretrain_work_dir = 'work_dirs/up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd'
load_from = f'{pretrain_work_dir}/epoch_20.pth'
model = dict(
    data_preprocessor={{_base_.lite0_data_preprocessor_replace}},
    backbone={{_base_.lite0_c5_replace}},  # then every weight comes from load_from
    neck=dict(in_channels={{_base_.lite0_c5_channels}}),
    patch_encoder=dict(in_channels=backbone_channels),
    bbox_head=dict(patch_channels=backbone_channels))
patch_pipeline = [dict(type='Normalize', mean=[127.0, 127.0, 127.0], std=[128.0, 128.0, 128.0], to_rgb=True)]
train_dataloader = dict(dataset=dict(patch_pipeline=patch_pipeline))
val_dataloader = dict(dataset=dict(patch_pipeline=patch_pipeline))
test_dataloader = val_dataloader
randomness = dict(seed=0)
