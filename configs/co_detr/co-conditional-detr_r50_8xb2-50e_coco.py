# Co-Conditional-DETR: Co-DETR around our Conditional DETR
# (configs/conditional_detr/conditional-detr_r50_8xb2-50e_coco.py: ResNet-50 C5, 6+6 layers, 300 queries, DETR
# augmentation, AdamW 1e-4, 50 epochs, lr x0.1 at 40, batch 8x2), with the standard torchvision backbone init.
# The single stride-32 encoder level becomes a pyramid of strides 8-128 (the paper's multi-scale adapter for
# single-scale encoders: 2 levels of 2x bilinear upsampling + 3x3 conv, 2 levels of stride-2 3x3 conv), on which
# the auxiliary heads are trained: RPN + RoI head (aux0) and ATSS (aux1), as in the paper's K=2 setting.
# Their positives become extra query groups of the shared conditional decoder (reference points = box centres),
# trained with CondDETRHead.loss_by_targets against the auxiliary assignment. Inference = plain Conditional DETR.
# The model is built as ../_base_/models/co-conditional-detr_r18.py builds the small one.
#   mim train mmdet_detrx configs/co_detr/co-conditional-detr_r50_8xb2-50e_coco.py --launcher pytorch --gpus 8
_base_ = ['../conditional_detr/conditional-detr_r50_8xb2-50e_coco.py', '../_base_/models/co_aux_heads_r50.py']

num_dec_layers = 6

model = dict(
    _delete_=True, type='DetrxCoDETR', num_classes=80, data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}}, neck={{_base_.model.neck}},
    query_head=dict(type='CondDETR', num_queries={{_base_.model.num_queries}}, encoder={{_base_.model.encoder}},
                    decoder={{_base_.model.decoder}}, positional_encoding={{_base_.model.positional_encoding}},
                    bbox_head={{_base_.model.bbox_head}}, train_cfg={{_base_.model.train_cfg}},
                    test_cfg={{_base_.model.test_cfg}}),
    memory_neck=dict(type='DetrxCoMemoryNeck', num_upsample_levels=2, num_extra_levels=2),
    query_generator=dict(type='DetrxCoPositiveQueryGenerator', min_queries=9, max_queries=300),
    aux_head_loss_weight=num_dec_layers * 2.0,  # lambda_2 = 2 inside the sum over decoder layers (see README)
    aux_query_loss_weight=1.0,
    rpn_head={{_base_.co_rpn_head}}, roi_head=[{{_base_.co_roi_head}}], bbox_head=[{{_base_.co_atss_head}}],
    train_cfg=dict(rpn_proposal={{_base_.co_rpn_proposal}}), test_cfg=dict(eval_module='detr', eval_index=0))
