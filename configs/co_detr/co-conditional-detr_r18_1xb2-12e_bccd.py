# The small Co-Conditional-DETR on the vendored BCCD blood cells (3 classes, VOC mAP): same model as
# co-conditional-detr_r18_1xb2-12e_coco128.py, same data and schedule as
# ../conditional_detr/conditional-detr_r18_1xb2-12e_bccd.py, so the two compare Co-DETR training against the
# plain base detector at equal epochs.
#   python tools/train.py configs/co_detr/co-conditional-detr_r18_1xb2-12e_bccd.py
_base_ = ['../_base_/models/co-conditional-detr_r18.py', '../_base_/datasets/bccd_detection.py',
          '../_base_/schedules/adamw_12e.py', '../_base_/default_runtime.py']
model = dict(num_classes=3)
