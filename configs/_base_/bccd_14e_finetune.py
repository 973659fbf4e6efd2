# Everything but the model of the small BCCD configs (*_lite0_1xb2-14e_bccd.py): the vendored BCCD data, the short
# fine-tuning schedule (./schedules/adamw_14e_finetune.py), our runtime (with the plugin imports) and a fixed seed.
# A small config is `_base_ = ['../_base_/models/<method>_lite0.py', '../_base_/bccd_14e_finetune.py']` plus its
# number of classes; the Co-DETR ones over an R18 model base add ./models/lite0_backbone.py and swap the backbone.
_base_ = ['./datasets/bccd_detection.py', './schedules/adamw_14e_finetune.py', './default_runtime.py']
randomness = dict(seed=0)
