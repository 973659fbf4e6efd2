# A short fine-tuning schedule for small datasets on a few CPU cores (the recipe of the shipped BCCD checkpoint):
# AdamW lr 2e-4 (2x the COCO default: batch 2 on ~200 images, few epochs), backbone at 0.5x (an ImageNet backbone
# far from the target domain must adapt; COCO recipes use 0.1x), grad clip 0.1, 200 iterations linear warm-up,
# 14 epochs with lr x0.1 after epoch 12, validation every 2 epochs.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
                     clip_grad=dict(max_norm=0.1, norm_type=2),
                     paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.5, decay_mult=1.0)}))
max_epochs = 14
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=2)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=200),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[12], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
