# Everything of the small UP-DETR pre-trainings with the frozen ImageNet EfficientNet-Lite0 except the detector: the
# vendored coco128 + BCCD images without labels, 10 query patches of 64x64 px normalised as the backbone's inputs,
# the reference schedule shortened to 20 epochs (lr x0.1 after 14), the backbone frozen (FreezeModulesHook), seed 0.
# A leaf sets `model` (a small base detector with the Lite0 backbone, its UP-DETR type, head and
# `patch_encoder={{_base_.up_patch_encoder}}`): ../up_detr/up-*_lite0_1xb4-20e_pretrain-coco128-bccd.py.
_base_ = ['./datasets/up-detr_pretrain_coco128-bccd.py', './schedules/up-detr_pretrain_20e.py', './default_runtime.py']

# query patches -> the detector's own (frozen) backbone: 320 channels at Lite0's last level, one patch per query
# group, 10% of the patch features dropped per query, object queries shuffled over the groups (paper)
backbone_channels = 320
up_patch_encoder = dict(type='QueryPatchEncoder', in_channels=backbone_channels, num_patches={{_base_.num_patches}},
                        mask_ratio=0.1, query_shuffle=True)

# the patch augmentation of ./datasets/up-detr_pretrain_imagenet.py, normalised as lite0_data_preprocessor does
patch_pipeline = [{{_base_.patch_augment}},
                  dict(type='Normalize', mean=[127.0, 127.0, 127.0], std=[128.0, 128.0, 128.0], to_rgb=True)]
train_pipeline = [
    dict(type='DetrxLoadImageFromFile', on_error='skip'),
    dict(type='RandomQueryPatches', num_patches={{_base_.num_patches}}, min_size=8,
         patch_size={{_base_.patch_size}}, patch_pipeline=patch_pipeline),
    dict(type='RandomChoiceResize', scales=[(192, 384), (224, 384), (256, 384)], keep_ratio=True),
    dict(type='PackQueryPatchInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
randomness = dict(seed=0)
default_hooks = dict(checkpoint=dict(interval=5))
