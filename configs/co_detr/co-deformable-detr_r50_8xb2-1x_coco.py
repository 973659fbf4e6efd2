# Co-Deformable-DETR: Co-DETR around mmdet's two-stage Deformable DETR with box refinement, ResNet-50,
# 4 scales, 300 queries, DETR multi-scale augmentation, 12 epochs, batch 8x2.
# mmdet's deformable-detr-refine-twostage_r50_16xb2-50e_coco.py gives the data, the optimizer (AdamW 2e-4, 0.1x lr
# on the backbone, sampling offsets and reference points), the runtime and the base detector's backbone, neck,
# preprocessor, positional encoding, head losses and matching; Co-DETR's transformer has 2048-wide FFNs without
# dropout, and trains 12 epochs, not 50.
# Auxiliary heads: RPN + RoI head (aux0) and ATSS (aux1) on the encoder memory + 1 extra level (strides 8-128).
# Differences to Sense-X/Co-DETR's co_deformable_detr_r50_1x_coco.py (so its checkpoints do not load): mmdet's
# Deformable DETR has no mixed query selection nor look-forward-twice, and the positive queries carry no
# memory features (with_coord_feat); padding of the positive query groups is masked instead of negatives.
#   mim train mmdet_detrx configs/co_detr/co-deformable-detr_r50_8xb2-1x_coco.py --launcher pytorch --gpus 8
_base_ = ['mmdet::deformable_detr/deformable-detr-refine-twostage_r50_16xb2-50e_coco.py',
          '../_base_/models/co_aux_heads_r50.py']
custom_imports = dict(imports=['mmdet_detrx', 'mmdet_detrx.checkpoint_loading'], allow_failed_imports=False)

num_classes = 80
num_dec_layers = 6
ffn_cfg = dict(embed_dims=256, feedforward_channels=2048, ffn_drop=0.0)  # mmdet's Deformable DETR: 1024, 0.1

model = dict(
    _delete_=True, type='DetrxCoDETR', num_classes=num_classes, data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}}, neck={{_base_.model.neck}},
    query_head=dict(
        type='DeformableDETR', num_queries=300, num_feature_levels=4, with_box_refine=True, as_two_stage=True,
        encoder=dict(
            num_layers=6,
            layer_cfg=dict(self_attn_cfg=dict(embed_dims=256, batch_first=True, dropout=0.0), ffn_cfg=ffn_cfg)),
        decoder=dict(
            num_layers=num_dec_layers,
            return_intermediate=True,
            layer_cfg=dict(self_attn_cfg=dict(embed_dims=256, num_heads=8, dropout=0.0, batch_first=True),
                           cross_attn_cfg=dict(embed_dims=256, batch_first=True, dropout=0.0), ffn_cfg=ffn_cfg),
            post_norm_cfg=None),
        positional_encoding={{_base_.model.positional_encoding}},
        # mmdet's head, able to train the positive query groups
        bbox_head=dict(_base_.model.bbox_head, type='DetrxCoDeformableDETRHead'),
        train_cfg={{_base_.model.train_cfg}},
        test_cfg={{_base_.model.test_cfg}}),
    memory_neck=dict(type='DetrxCoMemoryNeck', num_extra_levels=1),
    query_generator=dict(type='DetrxCoPositiveQueryGenerator', min_queries=9, max_queries=300),
    aux_head_loss_weight=num_dec_layers * 2.0,  # see the Co-DINO config
    aux_query_loss_weight=1.0,
    rpn_head={{_base_.co_rpn_head}}, roi_head=[{{_base_.co_roi_head}}], bbox_head=[{{_base_.co_atss_head}}],
    train_cfg=dict(rpn_proposal={{_base_.co_rpn_proposal}}), test_cfg=dict(eval_module='detr', eval_index=0))

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[11], gamma=0.1)]
# base_batch_size = 8 GPUs x 2 images
auto_scale_lr = dict(base_batch_size=16)
