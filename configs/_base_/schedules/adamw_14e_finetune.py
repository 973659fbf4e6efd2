# A short fine-tuning schedule for small datasets on a few CPU cores (the recipe of the shipped BCCD checkpoint):
# ./adamw_12e.py with lr 2e-4 (2x the COCO default: batch 2 on ~200 images, few epochs), the backbone at 0.5x (an
# ImageNet backbone far from the target domain must adapt; COCO recipes use 0.1x), 200 iterations linear warm-up,
# 14 epochs with lr x0.1 after epoch 12, validation every 2 epochs.
_base_ = './adamw_12e.py'
optim_wrapper = dict(optimizer=dict(lr=2e-4), paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.5)}))
max_epochs = 14
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=200),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[12], gamma=0.1)
]
