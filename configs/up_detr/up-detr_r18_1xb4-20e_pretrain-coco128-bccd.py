# UP-DETR pre-training of the small plain DETR (../_base_/models/detr_r18.py, the settings of the small
# Conditional DETR) on the vendored coco128 + BCCD images without their labels; see
# ./up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py for the data and the schedule.
_base_ = ['../_base_/models/detr_r18.py', '../_base_/up-detr_r18_pretrain.py']
model = dict(type='UPDETR', patch_encoder={{_base_.up_patch_encoder}},
             bbox_head=dict(type='UPDETRHead', num_classes=1, patch_channels={{_base_.backbone_channels}},
                            loss_feature={{_base_.up_loss_feature}}))
