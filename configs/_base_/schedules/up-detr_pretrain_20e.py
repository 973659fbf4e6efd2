# The UP-DETR pre-training schedule of ./up-detr_pretrain_60e.py shortened for the small CPU runs on the vendored
# images: 20 epochs, lr x0.1 after epoch 14, 1 GPU x 4 images.
_base_ = './up-detr_pretrain_60e.py'
max_epochs = 20
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[14], gamma=0.1)
]
auto_scale_lr = dict(base_batch_size=4)
