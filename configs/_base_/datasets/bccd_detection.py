# BCCD blood-cell detection (VOC layout, classes RBC/WBC/Platelets, MIT licence), vendored in data/bccd.
# Splits: train 205, val 87, test 72 images. Evaluated with VOC mAP (area) at IoU 0.5.
# data_root resolves relative to this file; override with --cfg-options for your own copy.
dataset_type = 'BCCDDataset'
data_root = '{{ fileDirname }}/../../../data/bccd/BCCD/'
backend_args = None
img_scale = (512, 384)  # images are 640x480

load_image = dict(type='DetrxLoadImageFromFile', backend_args=backend_args)
pack_test = dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
train_pipeline = [
    load_image,
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    load_image,
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    pack_test,
]
train_dataloader = dict(
    batch_size=2,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='ImageSets/Main/train.txt',
                 data_prefix=dict(sub_data_root=''), filter_cfg=dict(filter_empty_gt=True, min_size=1),
                 pipeline=train_pipeline, backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='ImageSets/Main/val.txt',
                 data_prefix=dict(sub_data_root=''), test_mode=True, pipeline=test_pipeline, backend_args=backend_args))
test_dataloader = dict(val_dataloader, dataset=dict(val_dataloader['dataset'], ann_file='ImageSets/Main/test.txt'))

val_evaluator = dict(type='VOCMetric', metric='mAP', eval_mode='area')
test_evaluator = val_evaluator
