# coco128 pieces for METR multi-label-space training (see ./metr_coco128-bccd.py): only `coco128_*` names, so
# this file and ./metr_bccd_parts.py can be `_base_` of one config without duplicate keys.
# Same data and pipelines as ./coco128_detection.py except the image scale, shared with BCCD: (512, 384).
# coco128 has no held-out split: val/test use its 128 training images (a sanity benchmark, not a score).
coco128_data_root = '{{ fileDirname }}/../../../data/coco128/'
coco128_img_scale = (512, 384)  # (w, h) upper bound, keep ratio; same as bccd_img_scale
coco128_class_embeddings = '{{ fileDirname }}/../../../data/class_embeddings/coco_minilm-l6.pt'

coco128_load = dict(type='DetrxLoadImageFromFile', backend_args=None)
coco128_resize = dict(type='Resize', scale=coco128_img_scale, keep_ratio=True)
coco128_train_pipeline = [coco128_load, dict(type='LoadAnnotations', with_bbox=True), coco128_resize,
                        dict(type='RandomFlip', prob=0.5), dict(type='PackDetInputs')]
coco128_pack_test = dict(type='PackDetInputs',
                         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
coco128_test_pipeline = [coco128_load, coco128_resize, dict(type='LoadAnnotations', with_bbox=True), coco128_pack_test]
coco128_train_dataset = dict(type='DetrxCocoDataset', data_root=coco128_data_root,
                             ann_file='annotations/instances_train2017.json', data_prefix=dict(img='train2017/'),
                             filter_cfg=dict(filter_empty_gt=True, min_size=1), pipeline=coco128_train_pipeline)
coco128_val_dataset = dict(type='DetrxCocoDataset', data_root=coco128_data_root,
                           ann_file='annotations/instances_val2017.json', data_prefix=dict(img='train2017/'),
                           test_mode=True, pipeline=coco128_test_pipeline)
coco128_test_dataset = coco128_val_dataset
coco128_metric = dict(
    type='CocoMetric', ann_file=coco128_data_root + 'annotations/instances_val2017.json', metric='bbox')
