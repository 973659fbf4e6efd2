# UP-DETR pre-training of the small Conditional DETR (../_base_/models/conditional-detr_r18.py: ResNet-18,
# 128-d, 2+2 layers, 100 queries) on the vendored coco128 + BCCD images without their labels, for CPU runs:
#   python tools/train.py configs/up_detr/up-conditional-detr_r18_1xb4-20e_pretrain-coco128-bccd.py
# 10 query patches of 64x64 px per image, 100 queries in 10 groups, frozen ImageNet ResNet-18 (offline:
# --cfg-options model.backbone.init_cfg=None gives a frozen random CNN: the pipeline runs, the features mean
# little). Fine-tune the result with load_from=work_dirs/.../epoch_20.pth in a Conditional DETR config.
_base_ = ['../_base_/models/conditional-detr_r18.py', '../_base_/up-detr_r18_pretrain.py']
model = dict(type='UPCondDETR', patch_encoder={{_base_.up_patch_encoder}},
             bbox_head=dict(type='UPCondDETRHead', num_classes=1, patch_channels={{_base_.backbone_channels}},
                            loss_feature={{_base_.up_loss_feature}}))
