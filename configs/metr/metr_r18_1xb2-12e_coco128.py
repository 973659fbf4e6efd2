# METR (small) trained on coco128 alone (the single-dataset baseline of metr_r18_1xb2-12e_coco128-bccd.py):
# same model, schedule and coco128 data/metric through the multi-label-space wrapper with one space.
_base_ = [
    '../_base_/models/metr_r18.py',
    '../_base_/datasets/metr_coco128.py',
    '../_base_/schedules/adamw_12e.py',
    '../_base_/default_runtime.py',
]
default_scope = 'mmdet'
custom_imports = dict(imports=['mmdet_detrx', 'mmdet_detrx.checkpoint_loading'], allow_failed_imports=False)
model = dict(label_spaces={{_base_.metr_class_embeddings}}, num_categories=10)
