# METR (small) trained on coco128 alone (the single-dataset baseline of metr_r18_1xb2-12e_coco128-bccd.py):
# same model, schedule and coco128 data/metric through the multi-label-space wrapper with one space.
_base_ = ['../_base_/metr_r18_12e.py', '../_base_/datasets/metr_coco128.py']
model = dict(label_spaces={{_base_.metr_class_embeddings}}, num_categories=10)
