# UP-DETR fine-tuning of Conditional DETR-R50 on COCO with the paper's fine-tuning schedule (as
# ./up-detr_r50_8xb2-300e_finetune-coco.py: 300 epochs, lr 1e-4, backbone lr 5e-5, lr x0.1 at epoch 200), from
# ./up-conditional-detr_r50_8xb32-60e_pretrain-imagenet.py. Model, data and runtime:
# ../conditional_detr/conditional-detr_r50_8xb2-50e_coco.py.
#   python tools/model_converters/up_detr_to_finetune.py \
#       work_dirs/up-conditional-detr_r50_8xb32-60e_pretrain-imagenet/epoch_60.pth \
#       work_dirs/up-conditional-detr_r50_8xb32-60e_pretrain-imagenet/finetune_init.pth
#   bash tools/dist_train.sh configs/up_detr/up-conditional-detr_r50_8xb2-300e_finetune-coco.py 8
_base_ = '../conditional_detr/conditional-detr_r50_8xb2-50e_coco.py'

load_from = 'work_dirs/up-conditional-detr_r50_8xb32-60e_pretrain-imagenet/finetune_init.pth'
model = dict(backbone=dict(init_cfg=None))  # the backbone comes from load_from

# the paper's fine-tuning schedule: 300 epochs, lr 1e-4 (as the base), backbone lr 5e-5, lr x0.1 at epoch 200
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.5, decay_mult=1.0)}))
train_cfg = dict(max_epochs=300)
param_scheduler = [dict(type='MultiStepLR', end=300, milestones=[200])]
