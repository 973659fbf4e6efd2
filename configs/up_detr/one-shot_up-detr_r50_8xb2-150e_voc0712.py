# One-shot detection on PASCAL VOC as in the UP-DETR paper (section 4.3, following CoAE): 16 seen classes for
# training (VOC07+12 trainval), the 4 unseen classes cow, sheep, cat, aeroplane for testing (VOC07 test),
# AP50 per unseen class. DETR-R50 UP-DETR (UPDETR with one query patch of 128 px, all 100 queries in one group,
# no feature reconstruction), initialised from ./up-detr_r50_8xb32-60e_pretrain-imagenet.py. The authors
# released no one-shot code: episodes, schedule (150 epochs, lr x0.1 at 100, as the VOC fine-tuning) and
# augmentation are ours. VOC is not vendored: data/VOCdevkit/VOC{2007,2012}.
#   bash tools/dist_train.sh configs/up_detr/up-detr_r50_8xb32-60e_pretrain-imagenet.py 8
#   bash tools/dist_train.sh configs/up_detr/one-shot_up-detr_r50_8xb2-150e_voc0712.py 8
#   bash tools/dist_test.sh configs/up_detr/one-shot_up-detr_r50_8xb2-150e_voc0712.py \
#       work_dirs/one-shot_up-detr_r50_8xb2-150e_voc0712/epoch_150.pth 8
_base_ = './up-detr_r50_8xb32-60e_pretrain-imagenet.py'

load_from = 'work_dirs/up-detr_r50_8xb32-60e_pretrain-imagenet/epoch_60.pth'
model = dict(
    backbone=dict(init_cfg=None),  # from load_from
    patch_encoder=dict(num_patches=1, query_shuffle=False),
    bbox_head=dict(loss_feature=None))

patch_size = 128
patch_pipeline = [
    dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
]
train_pipeline = [
    dict(type='DetrxLoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoiceResize', scales=[(s, 1333) for s in range(480, 801, 32)], keep_ratio=True),
    dict(type='PackOneShotInputs'),
]
test_pipeline = [
    dict(type='DetrxLoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackOneShotInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
data_root = 'data/VOCdevkit/'
voc = dict(type='VOCDataset', data_root=data_root, backend_args=None)
episodes = dict(type='OneShotEpisodeDataset', split='voc', patch_size=patch_size,
                patch_pipeline=patch_pipeline, min_query_size=16)
train_dataloader = dict(  # the pre-training loader (shuffled, persistent workers), VOC episodes in batches of 2
    batch_size=2,
    num_workers=2,
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        _delete_=True,
        classes='seen',
        **episodes,
        dataset=dict(
            type='ConcatDataset',
            ignore_keys=['dataset_type'],  # VOCDataset puts the year in its metainfo
            datasets=[
                dict(**voc, ann_file='VOC2007/ImageSets/Main/trainval.txt', data_prefix=dict(sub_data_root='VOC2007/'),
                     filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline=train_pipeline),
                dict(**voc, ann_file='VOC2012/ImageSets/Main/trainval.txt', data_prefix=dict(sub_data_root='VOC2012/'),
                     filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline=train_pipeline),
            ])))
val_dataloader = dict(
    _delete_=True, batch_size=1, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(classes='unseen', **episodes,
                 dataset=dict(**voc, ann_file='VOC2007/ImageSets/Main/test.txt',
                              data_prefix=dict(sub_data_root='VOC2007/'), test_mode=True, pipeline=test_pipeline)))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='OneShotMetric', iou_thr=0.5, eval_mode='11points')
test_evaluator = val_evaluator

# fine-tuning schedule (the VOC transfer one): no frozen backbone, backbone lr 0.5x
custom_hooks = []
max_epochs = 150
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=10)
val_cfg = dict(_delete_=True, type='ValLoop')
test_cfg = dict(_delete_=True, type='TestLoop')
optim_wrapper = dict(optimizer=dict(lr=1e-4),
                     paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.5, decay_mult=1.0)}))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[100], gamma=0.1)
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
