# A small DETR on BCCD with exactly the settings of ../conditional_detr/conditional-detr_r18_1xb2-12e_bccd.py.
#   python tools/train.py configs/detr/detr_r18_1xb2-12e_bccd.py
_base_ = ['../_base_/models/detr_r18.py', '../_base_/datasets/bccd_detection.py', '../_base_/schedules/adamw_12e.py',
          '../_base_/default_runtime.py']
model = dict(bbox_head=dict(num_classes=3))
