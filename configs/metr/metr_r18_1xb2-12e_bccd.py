# METR (small) trained on BCCD alone (the single-dataset baseline of metr_r18_1xb2-12e_coco128-bccd.py).
# BCCD has 3 classes, so K=3: every image gets all three categories, ~33 queries each.
_base_ = ['../_base_/metr_r18_12e.py', '../_base_/datasets/metr_bccd.py']
model = dict(label_spaces={{_base_.metr_class_embeddings}}, num_categories=3)
