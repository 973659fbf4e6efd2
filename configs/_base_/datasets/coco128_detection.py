# coco128: the first 128 images of COCO train2017 (80-class label space), vendored in data/coco128.
# Val/test use the same 128 images (instances_val2017.json): a quick sanity benchmark, not a held-out score.
# The loaders and pipelines of ./bccd_detection.py with COCO's layout, COCO's metric and smaller images;
# data_root resolves relative to this file (override with --cfg-options train_dataloader.dataset.data_root=...).
_base_ = './bccd_detection.py'
dataset_type = 'DetrxCocoDataset'
data_root = '{{ fileDirname }}/../../../data/coco128/'
img_scale = (512, 320)  # (w, h) upper bound, keep ratio: small for CPU training
resize = dict(type='Resize', scale=img_scale, keep_ratio=True)
train_pipeline = [{{_base_.load_image}}, dict(type='LoadAnnotations', with_bbox=True), resize,
                  dict(type='RandomFlip', prob=0.5), dict(type='PackDetInputs')]
test_pipeline = [{{_base_.load_image}}, resize, dict(type='LoadAnnotations', with_bbox=True), {{_base_.pack_test}}]
coco128_dataset = dict(type=dataset_type, data_root=data_root, data_prefix=dict(_delete_=True, img='train2017/'))
train_dataloader = dict(
    dataset=dict(coco128_dataset, ann_file='annotations/instances_train2017.json', pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(coco128_dataset, ann_file='annotations/instances_val2017.json', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='CocoMetric', ann_file=data_root + 'annotations/instances_val2017.json',
                     metric='bbox', format_only=False, backend_args=None)
test_evaluator = val_evaluator
