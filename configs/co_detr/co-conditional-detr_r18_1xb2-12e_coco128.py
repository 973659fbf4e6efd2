# A small Co-Conditional-DETR on the vendored coco128 (80 classes) for quick CPU runs:
#   python tools/train.py configs/co_detr/co-conditional-detr_r18_1xb2-12e_coco128.py
# Model: ../_base_/models/co-conditional-detr_r18.py (Conditional DETR R-18 + RPN/RoI and ATSS auxiliary heads).
_base_ = ['../_base_/models/co-conditional-detr_r18.py', '../_base_/datasets/coco128_detection.py',
          '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py']
