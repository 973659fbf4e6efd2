# METR data, BCCD alone (train 205, val 87, test 72): the wrapper of ./metr_coco128-bccd.py with
# one dataset, so a model trained alone runs the same code paths, pipeline and image scale as in joint training.
_base_ = ['./metr_loaders.py', './metr_bccd_parts.py']
metr_label_spaces = ['bccd']
metr_class_embeddings = dict(bccd={{_base_.bccd_class_embeddings}})
train_dataloader = dict(dataset=dict(label_spaces=metr_label_spaces, datasets=[{{_base_.bccd_train_dataset}}]))
val_dataloader = dict(dataset=dict(label_spaces=metr_label_spaces, datasets=[{{_base_.bccd_val_dataset}}]))
test_dataloader = dict(dataset=dict(label_spaces=metr_label_spaces, datasets=[{{_base_.bccd_test_dataset}}]))
val_evaluator = dict(metrics=dict(bccd={{_base_.bccd_metric}}))
test_evaluator = val_evaluator
