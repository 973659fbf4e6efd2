# A small Conditional DETR on the vendored coco128 (80 classes) for quick CPU runs:
#   python tools/train.py configs/conditional_detr/conditional-detr_r18_1xb2-12e_coco128.py
# ResNet-18, embed_dims 128, 2 encoder / 2 decoder layers, 100 queries; images at most 512x320.
_base_ = ['../_base_/models/conditional-detr_r18.py', '../_base_/datasets/coco128_detection.py',
          '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py']
