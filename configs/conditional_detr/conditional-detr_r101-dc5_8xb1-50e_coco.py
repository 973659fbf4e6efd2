# Conditional DETR-DC5, ResNet-101, 50 epochs (paper Table 1); 8 GPUs x 1 image as the official DC5 runs.
_base_ = './conditional-detr_r50-dc5_8xb1-50e_coco.py'

model = dict(backbone=dict(depth=101, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
