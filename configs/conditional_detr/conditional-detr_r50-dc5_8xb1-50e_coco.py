# Conditional DETR-DC5, ResNet-50, 50 epochs (paper Table 1). DC5: the C5 stage keeps stride 16 and uses
# dilation 2 instead, so the transformer sees 4x more tokens.
# The official DC5 runs use 1 image per GPU on 8 GPUs (total batch 8, same lr), hence 8xb1.
_base_ = './conditional-detr_r50_8xb2-50e_coco.py'

# TVDilatedResNet: mmdet's ResNet with torchvision's dilation layout (the first C5 block keeps dilation 1), as the
# official DC5 backbone, so converted official DC5 checkpoints see the same receptive field.
model = dict(backbone=dict(type='TVDilatedResNet', strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)))
train_dataloader = dict(batch_size=1)
auto_scale_lr = dict(base_batch_size=8)
