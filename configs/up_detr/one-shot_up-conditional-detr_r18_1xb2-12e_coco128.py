# One-shot detection (UP-DETR paper, section 4.3; the authors released no code for it) with the small
# Conditional DETR (R18, 128-d, 2+2 layers, 100 queries) on the vendored coco128, from its UP-DETR pre-training.
# Episodes (OneShotEpisodeDataset): a target image + ONE 64x64 query patch of a class present in it, cropped
# from another image; gt = all boxes of that class in the target, label 0. The model is UPCondDETR with one query
# patch (all 100 queries in one group), no feature reconstruction (the gt boxes are not the patch's own box).
# Train on the 76 seen classes, validate / test on the 4 unseen classes below (one_shot/AP50 = mean of their
# VOC-style AP50; coco128's val json is its train json, so the unseen images are seen during training, but never
# their unseen boxes: those are not targets of any training episode).
#   1. python tools/train.py configs/up_detr/up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py
#   2. python tools/train.py configs/up_detr/one-shot_up-conditional-detr_r18_1xb2-12e_coco128.py
#   3. python tools/test.py configs/up_detr/one-shot_up-conditional-detr_r18_1xb2-12e_coco128.py \
#          work_dirs/one-shot_up-conditional-detr_r18_1xb2-12e_coco128/epoch_12.pth
# load_from is the raw pre-training checkpoint (same architecture; the non-strict load skips
# bbox_head.feature_align.*); tools/train.py stops with `checkpoint file not found` if step 1 was not run.
_base_ = '../conditional_detr/conditional-detr_r18_1xb2-12e_coco128.py'  # model, data, schedule, runtime

# unseen COCO classes, each with instances in >= 5 coco128 images (dog 9, teddy bear 6, airplane 5, bus 5)
unseen_classes = ['dog', 'teddy bear', 'airplane', 'bus']
patch_size = 64  # as the pre-training (../_base_/datasets/up-detr_pretrain_coco128-bccd.py)
min_query_size = 16
backbone_channels = 512

pretrain_work_dir = 'work_dirs/up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd'
load_from = f'{pretrain_work_dir}/epoch_20.pth'

model = dict(
    type='UPCondDETR',
    backbone=dict(init_cfg=None),  # every weight comes from load_from
    patch_encoder=dict(type='QueryPatchEncoder', in_channels=backbone_channels, num_patches=1, mask_ratio=0.1,
                       query_shuffle=False),
    bbox_head=dict(type='UPCondDETRHead', num_classes=1, loss_feature=None),
    test_cfg=dict(max_per_img=100))

patch_pipeline = [
    dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
]
# the coco128 pipelines (../_base_/datasets/coco128_detection.py: images at most 512x320) packed as episodes
train_pipeline = [{{_base_.load_image}}, dict(type='LoadAnnotations', with_bbox=True), {{_base_.resize}},
                  dict(type='RandomFlip', prob=0.5), dict(type='PackOneShotInputs')]
test_pipeline = [{{_base_.load_image}}, {{_base_.resize}}, dict(type='LoadAnnotations', with_bbox=True),
                 dict(type='PackOneShotInputs', meta_keys={{_base_.pack_test.meta_keys}})]
data_root = '{{ fileDirname }}/../../data/coco128/'
coco128 = dict(type='DetrxCocoDataset', data_root=data_root, ann_file='annotations/instances_train2017.json',
               data_prefix=dict(img='train2017/'), filter_cfg=dict(filter_empty_gt=True, min_size=1),
               backend_args=None)
episode_cfg = dict(type='OneShotEpisodeDataset', unseen_classes=unseen_classes, patch_size=patch_size,
                   patch_pipeline=patch_pipeline, min_query_size=min_query_size)
train_dataloader = dict(
    dataset=dict(_delete_=True, classes='seen', **episode_cfg, dataset=dict(**coco128, pipeline=train_pipeline)))
val_dataloader = dict(
    dataset=dict(_delete_=True, classes='unseen', **episode_cfg,
                 dataset=dict(coco128, ann_file='annotations/instances_val2017.json', test_mode=True,
                              filter_cfg=None, pipeline=test_pipeline)))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='OneShotMetric', iou_thr=0.5, eval_mode='area')
test_evaluator = val_evaluator
