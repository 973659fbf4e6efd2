# UP-DETR pre-training schedule of the reference (dddzg/up-detr main.py, README): AdamW lr 1e-4, weight decay 1e-4,
# gradient clipping 0.1, 60 epochs, lr x0.1 after epoch 40, the CNN backbone frozen (reference: --fre_cnn) by
# FreezeModulesHook (its BatchNorms stay in eval mode). No evaluation during pre-training.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
                     clip_grad=dict(max_norm=0.1, norm_type=2))
max_epochs = 60
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[40], gamma=0.1)
]
custom_hooks = [dict(type='FreezeModulesHook', modules=['backbone'])]
# the frozen backbone gets no gradients: DistributedDataParallel must allow that (find_unused_parameters=True,
# set in ../default_runtime.py)
# reference: 8 GPUs x 32 images
auto_scale_lr = dict(enable=False, base_batch_size=256)
