# The data of the tiny test configs, as overrides of a coco128 config's loaders: the first 4 coco128 images at most
# 128x96 px, no loader workers. A config sets `train_dataloader = {{_base_.tiny_train_dataloader}}` and
# `val_dataloader = {{_base_.tiny_val_dataloader}}`.
tiny_resize = dict(type='Resize', scale=(128, 96), keep_ratio=True)
tiny_train_pipeline = [dict(type='DetrxLoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True), tiny_resize,
                       dict(type='PackDetInputs')]
tiny_test_pipeline = [
    dict(type='DetrxLoadImageFromFile'), tiny_resize, dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))]
tiny_train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                             dataset=dict(pipeline=tiny_train_pipeline, indices=4))
tiny_val_dataloader = dict(num_workers=0, persistent_workers=False,
                           dataset=dict(pipeline=tiny_test_pipeline, indices=4))
