# Everything but the model of the small BCCD configs (*_lite0_1xb2-14e_bccd.py): the vendored BCCD data, the short
# fine-tuning schedule (./schedules/adamw_14e_finetune.py), our runtime, the plugin imports and a fixed seed.
# A small config is `_base_ = [<model base>, ('../_base_/models/lite0_backbone.py',) '../_base_/bccd_14e_finetune.py']`
# plus its backbone swap and number of classes.
_base_ = ['./datasets/bccd_detection.py', './schedules/adamw_14e_finetune.py', './default_runtime.py']
randomness = dict(seed=0)
