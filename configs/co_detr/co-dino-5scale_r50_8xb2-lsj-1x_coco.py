# Co-DINO (Co-DETR around DINO), ResNet-50, 5 scales, LSJ 1024 + copy-paste, 12 epochs, batch 8x2.
# Mirrors mmdet's projects/CO-DETR co_dino_5scale_r50_lsj_8xb2_1x_coco.py (52.1 box AP reported there):
# its released checkpoints load into this model with strict=True (keys are converted on load).
# Auxiliary heads: RPN + RoI head (aux0) and ATSS (aux1) on the encoder memory + 1 extra level.
# Train:  mim train mmdet_detrx configs/co_detr/co-dino-5scale_r50_8xb2-lsj-1x_coco.py --launcher pytorch --gpus 8
_base_ = ['mmdet::common/ssj_scp_270k_coco-instance.py', '../_base_/models/co_aux_heads_r50_5scale.py',
          '../_base_/models/detr_matching.py']
custom_imports = dict(imports=['mmdet_detrx', 'mmdet_detrx.checkpoint_loading'], allow_failed_imports=False)

num_classes = 80
num_dec_layers = 6
# The paper adds the auxiliary-head loss inside the sum over decoder layers with weight 2:
# every auxiliary-head loss is scaled by num_dec_layers * 2; the positive-query losses by 1 per layer.
aux_head_loss_weight = num_dec_layers * 2.0
image_size = (1024, 1024)
# FFN ReLU not in place: the same function, without the autograd copy of an in-place op on the Linear's
# (viewed) output; ~10% faster FFN backward on CPU, parameters unchanged
ffn_cfg = dict(embed_dims=256, feedforward_channels=2048, ffn_drop=0.0, act_cfg=dict(type='ReLU', inplace=False))

model = dict(
    type='DetrxCoDETR',
    num_classes=num_classes,
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_mask=True,
                           batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=1,
                  norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch',
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(type='ChannelMapper', in_channels=[256, 512, 1024, 2048], kernel_size=1, out_channels=256, act_cfg=None,
              norm_cfg=dict(type='GN', num_groups=32), num_outs=5),
    # The base detector: mmdet's DINO with a head that also trains the positive query groups.
    query_head=dict(
        type='DINO', num_queries=900, with_box_refine=True, as_two_stage=True, num_feature_levels=5,
        encoder=dict(
            num_layers=6,
            # num_cp=6 checkpoints the encoder layers (needs fairscale), as the reference's with_cp
            layer_cfg=dict(self_attn_cfg=dict(embed_dims=256, num_levels=5, dropout=0.0), ffn_cfg=ffn_cfg)),
        decoder=dict(
            num_layers=num_dec_layers,
            return_intermediate=True,
            layer_cfg=dict(self_attn_cfg=dict(embed_dims=256, num_heads=8, dropout=0.0),
                           cross_attn_cfg=dict(embed_dims=256, num_levels=5, dropout=0.0), ffn_cfg=ffn_cfg),
            post_norm_cfg=None),
        positional_encoding=dict(num_feats=128, normalize=True, offset=0.0, temperature=20),
        bbox_head=dict(type='DetrxCoDINOHead', num_classes=num_classes,
                       loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0),
                       loss_bbox={{_base_.l1_loss_bbox}}, loss_iou={{_base_.giou_loss_iou}}),
        dn_cfg=dict(label_noise_scale=0.5, box_noise_scale=1.0,
                    group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=100)),
        train_cfg=dict(assigner={{_base_.focal_hungarian_assigner}}),
        # soft-NMS on the top 300 queries (+0.2 AP in the reference)
        test_cfg=dict(max_per_img=300, nms=dict(type='soft_nms', iou_threshold=0.8))),
    memory_neck=dict(type='DetrxCoMemoryNeck', num_extra_levels=1),
    # the reference's Co-DINO trains without the positive queries' content term (its with_coord_feat=False)
    query_generator=dict(type='DetrxCoPositiveQueryGenerator', min_queries=9, max_queries=300,
                         with_content_feat=False),
    aux_head_loss_weight=aux_head_loss_weight,
    aux_query_loss_weight=1.0,
    rpn_head={{_base_.co_rpn_head}}, roi_head=[{{_base_.co_roi_head}}], bbox_head=[{{_base_.co_atss_head}}],
    train_cfg=dict(rpn_proposal={{_base_.co_rpn_proposal}}),
    # 'detr' (default): the DINO alone, no auxiliary branch runs (reference: 52.1 AP);
    # 'one-stage': ATSS on the encoder features (49.4); 'two-stage': RPN + RoI head (47.9).
    test_cfg=dict(eval_module='detr', eval_index=0))

# LSJ (scale 0.1-2.0, crop and pad to 1024) + copy-paste, as the reference. The transforms that do not depend on
# image_size are named: the Swin-L config (1280) reuses them.
load_annotations = dict(type='LoadAnnotations', with_bbox=True, with_mask=True)
filter_annotations = dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2))
pack_test = dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
load_pipeline = [
    dict(type='LoadImageFromFile'),
    load_annotations,
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size, recompute_bbox=True,
         allow_negative_crop=True),
    filter_annotations,
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
]
train_pipeline = [dict(type='CopyPaste', max_num_pasted=100), dict(type='PackDetInputs')]
train_dataloader = dict(
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(pipeline=train_pipeline,
                 dataset=dict(filter_cfg=dict(filter_empty_gt=False), pipeline=load_pipeline)))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    load_annotations,
    pack_test,
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator

optim_wrapper = dict(_delete_=True, type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
                     clip_grad=dict(max_norm=0.1, norm_type=2),
                     paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
max_epochs = 12
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[11], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1, max_keep_ckpts=3))
log_processor = dict(by_epoch=True)
# base_batch_size = 8 GPUs x 2 images
auto_scale_lr = dict(base_batch_size=16)
