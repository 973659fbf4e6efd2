# Conditional DETR, ResNet-101, 50 epochs (paper Table 1).
_base_ = './conditional-detr_r50_8xb2-50e_coco.py'

model = dict(backbone=dict(depth=101, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
