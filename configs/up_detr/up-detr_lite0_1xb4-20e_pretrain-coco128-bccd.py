# UP-DETR pre-training of the small plain DETR with the frozen ImageNet EfficientNet-Lite0: everything as
# ./up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py (data, patches, schedule, backbone) with DETR's
# decoder and the UP-DETR head for DETR (softmax object / no-object, weight 0.1, feature reconstruction).
#   1. python tools/train.py configs/up_detr/up-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py
#   2. python tools/model_converters/transfer.py work_dirs/up-detr_lite0_1xb4-20e_pretrain-coco128-bccd/epoch_20.pth \
#          work_dirs/up-detr_lite0_1xb4-20e_pretrain-coco128-bccd/finetune_init.pth \
#          --config configs/up_detr/up-detr_lite0_1xb2-14e_finetune-bccd.py
#   3. python tools/train.py configs/up_detr/up-detr_lite0_1xb2-14e_finetune-bccd.py
# (or Co-DETR fine-tuning: ./co-up-detr_lite0_1xb2-14e_finetune-bccd.py, docs/composition.md)
_base_ = ['./up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py', '../_base_/models/detr_parts_128.py']

model = dict(
    type='UPDETR',
    decoder={{_base_.detr_decoder}},
    bbox_head=dict(_delete_=True, type='UPDETRHead', num_classes=1, embed_dims=128,
                   patch_channels={{_base_.backbone_channels}},
                   loss_feature=dict(type='FeatureReconstructionLoss', loss_weight=1.0)),
    train_cfg=dict(assigner={{_base_.batched_softmax_hungarian_assigner}}))
