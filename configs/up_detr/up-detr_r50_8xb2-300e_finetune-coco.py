# UP-DETR fine-tuning on COCO (paper / github dddzg/up-detr: 300 epochs, lr 1e-4, backbone lr 5e-5, lr x0.1 at
# epoch 200, 8 GPUs x 2 images), from ./up-detr_r50_8xb32-60e_pretrain-imagenet.py. Model, data and runtime
# are ../detr/detr_r50_8xb2-50e_coco.py (DETR-R50, 100 queries).
#   python tools/model_converters/up_detr_to_finetune.py \
#       work_dirs/up-detr_r50_8xb32-60e_pretrain-imagenet/epoch_60.pth \
#       work_dirs/up-detr_r50_8xb32-60e_pretrain-imagenet/finetune_init.pth
#   bash tools/dist_train.sh configs/up_detr/up-detr_r50_8xb2-300e_finetune-coco.py 8
# The authors' released pre-training checkpoint converts with `--official` (pre-norm weights in our post-norm
# layers: an initialisation only, see mmdet_detrx/utils/converters/up_detr.py).
_base_ = '../detr/detr_r50_8xb2-50e_coco.py'

load_from = 'work_dirs/up-detr_r50_8xb32-60e_pretrain-imagenet/finetune_init.pth'
model = dict(backbone=dict(init_cfg=None))  # the backbone comes from load_from

max_epochs = 300
train_cfg = dict(max_epochs=max_epochs)
# backbone 5e-5 = 0.5 x the base lr 1e-4 (the reference's --lr_backbone 5e-5)
optim_wrapper = dict(optimizer=dict(lr=1e-4),
                     paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.5, decay_mult=1.0)}))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[200], gamma=0.1)
]
auto_scale_lr = dict(base_batch_size=16)
