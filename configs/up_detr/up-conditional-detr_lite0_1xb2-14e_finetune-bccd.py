# Fine-tune the small Conditional DETR (EfficientNet-Lite0) on BCCD from its UP-DETR pre-training: model, data and
# schedule of ../conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py, only the initialisation differs (the
# command chain is in ./up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py). The backbone comes from
# load_from too (the same frozen ImageNet weights the pre-training used).
_base_ = '../conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py'

pretrain_work_dir = 'work_dirs/up-conditional-detr_lite0_1xb4-20e_pretrain-coco128-bccd'
load_from = f'{pretrain_work_dir}/finetune_init.pth'
model = dict(backbone=dict(init_cfg=None))
