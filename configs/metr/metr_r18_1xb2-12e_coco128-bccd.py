# METR (small): one Deformable-DETR-style detector trained jointly on coco128 (80 COCO classes) and BCCD
# (RBC/WBC/Platelets) WITHOUT merging label spaces. Every sample carries its label space; the category
# extractor scores the classes of that space from their MiniLM name embeddings, the top/gt K=10 categories
# get class-specific queries, and predictions carry the space's own class ids (metrics per space).
# ResNet-18 from scratch (GroupNorm); ./metr_lite0_1xb2-12e_coco128-bccd.py has offline ImageNet weights. See
# docs/metr.md.
_base_ = ['../_base_/metr_r18_12e.py', '../_base_/datasets/metr_coco128-bccd.py']
model = dict(label_spaces={{_base_.metr_class_embeddings}}, num_categories=10)
