# BCCD pieces for METR multi-label-space training (see ./metr_coco128-bccd.py): only `bccd_*` names, so this
# file and ./metr_coco128_parts.py can be `_base_` of one config without duplicate keys.
# Same data, splits (train 205 / val 87 / test 72), pipelines and VOC metric as ./bccd_detection.py.
bccd_data_root = '{{ fileDirname }}/../../../data/bccd/BCCD/'
bccd_img_scale = (512, 384)  # images are 640x480; same as coco128_img_scale
bccd_class_embeddings = '{{ fileDirname }}/../../../data/class_embeddings/bccd_minilm-l6.pt'

bccd_load = dict(type='DetrxLoadImageFromFile', backend_args=None)
bccd_resize = dict(type='Resize', scale=bccd_img_scale, keep_ratio=True)
bccd_train_pipeline = [bccd_load, dict(type='LoadAnnotations', with_bbox=True), bccd_resize,
                        dict(type='RandomFlip', prob=0.5), dict(type='PackDetInputs')]
bccd_pack_test = dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
bccd_test_pipeline = [bccd_load, bccd_resize, dict(type='LoadAnnotations', with_bbox=True), bccd_pack_test]
bccd_train_dataset = dict(type='BCCDDataset', data_root=bccd_data_root, ann_file='ImageSets/Main/train.txt',
                          data_prefix=dict(sub_data_root=''), filter_cfg=dict(filter_empty_gt=True, min_size=1),
                          pipeline=bccd_train_pipeline)
bccd_val_dataset = dict(type='BCCDDataset', data_root=bccd_data_root, ann_file='ImageSets/Main/val.txt',
                        data_prefix=dict(sub_data_root=''), test_mode=True, pipeline=bccd_test_pipeline)
bccd_test_dataset = dict(bccd_val_dataset, ann_file='ImageSets/Main/test.txt')
bccd_metric = dict(type='VOCMetric', metric='mAP', eval_mode='area')
