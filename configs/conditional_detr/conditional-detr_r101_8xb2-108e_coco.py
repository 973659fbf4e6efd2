# Conditional DETR, ResNet-101, 108 epochs (paper Table 1), lr x0.1 after epoch 80.
_base_ = './conditional-detr_r101_8xb2-50e_coco.py'

max_epochs = 108
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=4)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[80], gamma=0.1)
]
