# Co-DINO R50, LSJ, 36 epochs (lr x0.1 at epoch 30); see the 1x config for the model.
#   mim train mmdet_detrx configs/co_detr/co-dino-5scale_r50_8xb2-lsj-3x_coco.py --launcher pytorch --gpus 8
_base_ = './co-dino-5scale_r50_8xb2-lsj-1x_coco.py'
max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[30], gamma=0.1)
]
