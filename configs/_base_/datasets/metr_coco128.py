# METR data, coco128 alone (train 126 images with boxes; val/test: its 128 training images): the wrapper of
# ./metr_coco128-bccd.py with one dataset, so a model trained alone runs the same code paths, pipeline and image
# scale as in joint training.
_base_ = ['./metr_loaders.py', './metr_coco128_parts.py']
metr_label_spaces = ['coco128']
metr_class_embeddings = dict(coco128={{_base_.coco128_class_embeddings}})
train_dataloader = dict(dataset=dict(label_spaces=metr_label_spaces, datasets=[{{_base_.coco128_train_dataset}}]))
val_dataloader = dict(dataset=dict(label_spaces=metr_label_spaces, datasets=[{{_base_.coco128_val_dataset}}]))
test_dataloader = dict(dataset=dict(label_spaces=metr_label_spaces, datasets=[{{_base_.coco128_test_dataset}}]))
val_evaluator = dict(metrics=dict(coco128={{_base_.coco128_metric}}))
test_evaluator = val_evaluator
