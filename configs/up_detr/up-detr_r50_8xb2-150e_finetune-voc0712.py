# UP-DETR fine-tuning of DETR-R50 on PASCAL VOC (paper: trainval07+12 -> test07, 150 epochs, lr x0.1 at epoch
# 100; lr 1e-4, backbone lr 5e-5 and the DETR model / augmentation as ./up-detr_r50_8xb2-300e_finetune-coco.py),
# from ./up-detr_r50_8xb32-60e_pretrain-imagenet.py (converted with tools/model_converters/up_detr_to_finetune.py
# to the load_from path below). Data: data/VOCdevkit/VOC{2007,2012}. Metric: VOC mAP@0.5 (11 points), as
# mmdet's VOC configs; the paper reports COCO-style AP on VOC.
#   bash tools/dist_train.sh configs/up_detr/up-detr_r50_8xb2-150e_finetune-voc0712.py 8
_base_ = './up-detr_r50_8xb2-300e_finetune-coco.py'

model = dict(bbox_head=dict(num_classes=20))

dataset_type = 'VOCDataset'
data_root = 'data/VOCdevkit/'
voc_train = dict(type=dataset_type, data_root=data_root, filter_cfg=dict(filter_empty_gt=True, min_size=32),
                 pipeline={{ _base_.train_pipeline }}, backend_args=None)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        ignore_keys=['dataset_type'],  # VOCDataset puts the year in its metainfo
        datasets=[
            dict(**voc_train, ann_file='VOC2007/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2007/')),
            dict(**voc_train, ann_file='VOC2012/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root='VOC2012/')),
        ]))
val_dataloader = dict(
    dataset=dict(_delete_=True, type=dataset_type, data_root=data_root, ann_file='VOC2007/ImageSets/Main/test.txt',
                 data_prefix=dict(sub_data_root='VOC2007/'), test_mode=True, pipeline={{ _base_.test_pipeline }},
                 backend_args=None))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='VOCMetric', metric='mAP', eval_mode='11points')
test_evaluator = val_evaluator

max_epochs = 150
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[100], gamma=0.1)
]
