# Everything of the small UP-DETR pre-trainings with ResNet-18 except the detector: the vendored coco128 + BCCD
# images without labels, 10 query patches, the reference schedule shortened to 20 epochs, a checkpoint every 5
# epochs. A leaf sets `model` (a small base detector, its UP-DETR type and head, `patch_encoder=
# {{_base_.up_patch_encoder}}`): ../up_detr/up-*_r18_1xb4-20e_pretrain-coco128-bccd.py.
_base_ = ['./datasets/up-detr_pretrain_coco128-bccd.py', './schedules/up-detr_pretrain_20e.py', './default_runtime.py']
backbone_channels = 512  # ResNet-18's last level: the patch features' width
up_patch_encoder = dict(type='QueryPatchEncoder', in_channels=backbone_channels, num_patches={{_base_.num_patches}},
                        mask_ratio=0.1, query_shuffle=True)
up_loss_feature = dict(type='FeatureReconstructionLoss', loss_weight=1.0)
default_hooks = dict(checkpoint=dict(interval=5))
