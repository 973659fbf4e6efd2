# METR multi-dataset training without merging label spaces: coco128 (80 COCO classes) + BCCD (RBC/WBC/Platelets).
# Each dataset keeps its classes, its pipeline and its metric; MultiLabelSpaceDataset tags every sample
# with its label space ('coco128' or 'bccd') and gt labels stay local ids of that space.
# Train: coco128 train (126 images with boxes) + BCCD train (205). Val: coco128 (its 128 training images, it has
# no held-out split) + BCCD val (87). Test: coco128 (same 128) + BCCD test (72).
# Metrics are reported per space: coco128/coco/bbox_mAP..., bccd/pascal_voc/mAP.
# ./metr_coco128.py and ./metr_bccd.py are the same with one dataset each (the "trained alone" baselines).
_base_ = ['./metr_loaders.py', './metr_coco128_parts.py', './metr_bccd_parts.py']

metr_label_spaces = ['coco128', 'bccd']
metr_class_embeddings = dict(coco128={{_base_.coco128_class_embeddings}}, bccd={{_base_.bccd_class_embeddings}})
train_dataloader = dict(dataset=dict(label_spaces=metr_label_spaces,
                                     datasets=[{{_base_.coco128_train_dataset}}, {{_base_.bccd_train_dataset}}]))
val_dataloader = dict(dataset=dict(label_spaces=metr_label_spaces,
                                   datasets=[{{_base_.coco128_val_dataset}}, {{_base_.bccd_val_dataset}}]))
test_dataloader = dict(dataset=dict(label_spaces=metr_label_spaces,
                                    datasets=[{{_base_.coco128_test_dataset}}, {{_base_.bccd_test_dataset}}]))
val_evaluator = dict(metrics=dict(coco128={{_base_.coco128_metric}}, bccd={{_base_.bccd_metric}}))
test_evaluator = val_evaluator
