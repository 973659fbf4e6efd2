# METR for real users: ResNet-50 Deformable-DETR-style METR (mmdet's deformable-detr_r50_16xb2-50e_coco sizes:
# 256-d, 6+6 layers, 4 levels, 300 queries) pre-trained jointly on COCO 2017 (80 classes) and Objects365 v2
# (365 classes) without merging label spaces; K=20 categories per image, 15 queries each.
# Needs: data/coco (mmdet layout) and data/objects365 (zhiyuan_objv2_{train,val}.json). The class embeddings of
# both label spaces are committed (data/class_embeddings/{coco,o365}_minilm-l6.pt; how they were made:
# data/class_embeddings/README.md). 8 GPUs x 2 images; scale lr for other batch sizes. docs/metr.md.
#   bash tools/dist_train.sh configs/metr/metr_r50_8xb2-50e_coco-o365.py 8
_base_ = ['../_base_/models/metr_r18.py', '../_base_/default_runtime.py', 'mmdet::_base_/datasets/coco_detection.py',
          '../_base_/datasets/detr_multiscale_augment.py']
embed_dims = 256
embeddings_dir = '{{ fileDirname }}/../../data/class_embeddings/'
model = dict(
    num_queries=300,
    num_categories=20,
    with_box_refine=False,
    label_spaces=dict(coco=dict(embeddings=embeddings_dir + 'coco_minilm-l6.pt', classes=None),
                      o365=dict(embeddings=embeddings_dir + 'o365_minilm-l6.pt', classes=None)),
    backbone=dict(depth=50, frozen_stages=1, norm_cfg=dict(_delete_=True, type='BN', requires_grad=False),
                  norm_eval=True, init_cfg=dict(_delete_=True, type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(in_channels=[512, 1024, 2048], out_channels=embed_dims),
    encoder=dict(
        num_layers=6,
        layer_cfg=dict(self_attn_cfg=dict(embed_dims=embed_dims),
                       ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=1024))),
    decoder=dict(
        num_layers=6,
        layer_cfg=dict(self_attn_cfg=dict(embed_dims=embed_dims), cross_attn_cfg=dict(embed_dims=embed_dims),
                       ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=1024))),
    positional_encoding=dict(num_feats=embed_dims // 2),
    category_extractor=dict(num_layers=2, feedforward_channels=1024),
    bbox_head=dict(embed_dims=embed_dims))

# ---------------------------------------------------------------- data: COCO + Objects365 v2, local labels
# mmdet's COCO loaders (coco_detection.py: batch 2, test pipeline) with DETR's augmentation, one dataset per label space
train_pipeline = {{_base_.detr_train_pipeline}}
coco_root = 'data/coco/'
o365_root = 'data/objects365/'
coco_train = dict(type='CocoDataset', data_root=coco_root, ann_file='annotations/instances_train2017.json',
                  data_prefix=dict(img='train2017/'), filter_cfg=dict(filter_empty_gt=False, min_size=32),
                  pipeline=train_pipeline, backend_args=None)
o365_train = dict(type='Objects365V2Dataset', data_root=o365_root, ann_file='annotations/zhiyuan_objv2_train.json',
                  data_prefix=dict(img='train/'), filter_cfg=dict(filter_empty_gt=True, min_size=32),
                  pipeline=train_pipeline, backend_args=None)
coco_val = dict(type='CocoDataset', data_root=coco_root, ann_file='annotations/instances_val2017.json',
                data_prefix=dict(img='val2017/'), test_mode=True, pipeline={{_base_.test_pipeline}}, backend_args=None)
o365_val = dict(type='Objects365V2Dataset', data_root=o365_root, ann_file='annotations/zhiyuan_objv2_val.json',
                data_prefix=dict(img='val/'), test_mode=True, pipeline={{_base_.test_pipeline}}, backend_args=None)
label_spaces = ['coco', 'o365']
train_dataloader = dict(dataset=dict(_delete_=True, type='MultiLabelSpaceDataset', label_spaces=label_spaces,
                                     datasets=[coco_train, o365_train]))
val_dataloader = dict(dataset=dict(_delete_=True, type='MultiLabelSpaceDataset', label_spaces=label_spaces,
                                   datasets=[coco_val, o365_val]))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='MultiLabelSpaceMetric',
    metrics=dict(
        coco=dict(type='CocoMetric', ann_file=coco_root + 'annotations/instances_val2017.json', metric='bbox'),
        o365=dict(type='CocoMetric', ann_file=o365_root + 'annotations/zhiyuan_objv2_val.json', metric='bbox')))
test_evaluator = val_evaluator

# ---------------------------------------------------------------- schedule: Deformable DETR's 50 epochs
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={
        'backbone': dict(lr_mult=0.1),
        'sampling_offsets': dict(lr_mult=0.1),
        'reference_points': dict(lr_mult=0.1)
    }))
max_epochs = 50
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[40], gamma=0.1)]
auto_scale_lr = dict(base_batch_size=16)
