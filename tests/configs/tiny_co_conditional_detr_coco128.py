# A tiny Co-Conditional-DETR on coco128 for the analysis-tool tests: the small config's ResNet-18 (no pretrained
# weights) and 128-d transformer with 1 encoder / 1 decoder layer, 10 queries, 128x96 images, first 4 images;
# auxiliary RPN + RoI head (aux0) and ATSS (aux1) as in the small config.
_base_ = ['../../configs/co_detr/co-conditional-detr_r18_1xb2-12e_coco128.py']
model = dict(
    backbone=dict(init_cfg=None, frozen_stages=-1),
    query_head=dict(num_queries=10, encoder=dict(num_layers=1), decoder=dict(num_layers=1),
                    test_cfg=dict(max_per_img=10)),
    aux_head_loss_weight=2.0)

small = (128, 96)
train_pipeline = [
    dict(type='DetrxLoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=small, keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='DetrxLoadImageFromFile'),
    dict(type='Resize', scale=small, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(pipeline=train_pipeline, indices=4))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline, indices=4))
test_dataloader = val_dataloader
max_epochs = 1
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
randomness = dict(seed=0, deterministic=False)
