# Fine-tune the small DETR on BCCD from its UP-DETR pre-training (transfer, milestone 2). The model, data and
# schedule are those of ../detr/detr_r18_1xb2-12e_bccd.py; only the initialisation differs:
#   1. pre-train:  python tools/train.py configs/up_detr/up-detr_r18_1xb4-20e_pretrain-coco128-bccd.py
#   2. keep the transferable weights (drops patch_encoder.*, bbox_head.feature_align.*, the 1-class fc_cls):
#      python tools/model_converters/up_detr_to_finetune.py \
#          work_dirs/up-detr_r18_1xb4-20e_pretrain-coco128-bccd/epoch_20.pth \
#          work_dirs/up-detr_r18_1xb4-20e_pretrain-coco128-bccd/finetune_init.pth \
#          --config configs/up_detr/up-detr_r18_1xb2-12e_finetune-bccd.py
#   3. python tools/train.py configs/up_detr/up-detr_r18_1xb2-12e_finetune-bccd.py
# tools/train.py stops with a clear error if `load_from` does not exist (run steps 1-2 first). The raw
# epoch_20.pth works as `load_from` too (non-strict: the pretext keys and the classifier are reported and
# skipped), but without the converter's check that it is an UP-DETR checkpoint of this model.
_base_ = '../detr/detr_r18_1xb2-12e_bccd.py'

pretrain_work_dir = 'work_dirs/up-detr_r18_1xb4-20e_pretrain-coco128-bccd'
load_from = f'{pretrain_work_dir}/finetune_init.pth'
# every backbone weight comes from load_from: no torchvision download
model = dict(backbone=dict(init_cfg=None))
