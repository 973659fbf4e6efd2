# A small DETR on coco128 with exactly the settings of
# ../conditional_detr/conditional-detr_r18_1xb2-12e_coco128.py (backbone, neck, encoder, data, schedule).
#   python tools/train.py configs/detr/detr_r18_1xb2-12e_coco128.py
_base_ = ['../_base_/models/detr_r18.py', '../_base_/datasets/coco128_detection.py', '../_base_/schedules/adamw_12e.py',
          '../_base_/default_runtime.py']
