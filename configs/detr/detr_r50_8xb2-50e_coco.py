# DETR, ResNet-50, 50 epochs on COCO, on exactly the settings of
# ../conditional_detr/conditional-detr_r50_8xb2-50e_coco.py (backbone, neck, encoder, positional encoding,
# data pipeline, optimizer, 50-epoch schedule, runtime), so the two are directly comparable (paper Table 1,
# "DETR-R50, 50 epochs"). Only what defines DETR differs: the plain decoder (ModularDETRDecoder with mmcv
# MultiheadAttention), 100 queries, softmax classification with no-object weight 0.1 and its matching cost.
# mmdet's DETR config with our registry parts (the state dict equals mmdet's `DETR`) and the 50-epoch schedule of
# mmdet's Conditional DETR.
#   bash tools/dist_train.sh configs/detr/detr_r50_8xb2-50e_coco.py 8
_base_ = ['mmdet::detr/detr_r50_8xb2-150e_coco.py', '../_base_/models/detr_matching.py']
custom_imports = dict(imports=['mmdet_detrx', 'mmdet_detrx.checkpoint_loading'], allow_failed_imports=False)

fast_ffn = dict(ffn_cfg=dict(type='FastDropoutFFN'))
model = dict(type='ModularDETR', encoder=dict(layer_cfg=fast_ffn), decoder=dict(layer_cfg=fast_ffn),
             train_cfg=dict(assigner={{_base_.batched_softmax_hungarian_assigner}}))

train_cfg = dict(max_epochs=50)
param_scheduler = [dict(type='MultiStepLR', end=50, milestones=[40])]
