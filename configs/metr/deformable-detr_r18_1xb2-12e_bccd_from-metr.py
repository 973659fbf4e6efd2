# Fine-tune a plain Deformable DETR (same R18 / 128-d / 2+2-layer transformer as ../_base_/models/metr_r18.py)
# on BCCD from a METR pre-training checkpoint. Make the initialisation first:
#   python tools/model_converters/metr_to_finetune.py \
#       work_dirs/metr_r18_1xb2-12e_coco128-bccd/epoch_12.pth \
#       work_dirs/metr_r18_1xb2-12e_coco128-bccd/deformable-detr_r18_from-metr.pth \
#       --config configs/metr/deformable-detr_r18_1xb2-12e_bccd_from-metr.py
#   python tools/train.py configs/metr/deformable-detr_r18_1xb2-12e_bccd_from-metr.py
# It keeps backbone, neck, encoder, decoder, level embedding, reference points and box branches; the
# classifier (3 BCCD classes) and the query embedding start fresh. See docs/metr.md.
_base_ = ['../_base_/models/deformable-detr_r18.py', '../_base_/datasets/bccd_detection.py',
          '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py']
model = dict(
    backbone=dict(init_cfg=None),  # comes from the METR checkpoint
    bbox_head=dict(num_classes=3))
load_from = 'work_dirs/metr_r18_1xb2-12e_coco128-bccd/deformable-detr_r18_from-metr.pth'
