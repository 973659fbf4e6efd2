# UP-DETR pre-training data (random query patch detection) on an image folder such as ImageNet's train set,
# following the reference implementation (dddzg/up-detr, datasets/selfdet.py):
#   * every image file under data_root/data_prefix.img (recursive; ImageNet class folders are fine), labels unused;
#   * 10 random query patches per image, sides in [8, image side - 8] px, cropped from the original image;
#   * the image: shortest side one of 320..480 px, longest at most 600 px, no flip;
#   * each patch: resized to 128x128, colour jitter (0.4, 0.4, 0.4, 0.1) with p=0.8, greyscale p=0.2,
#     Gaussian blur (sigma 0.1-2) with p=0.5, ImageNet normalization (as the data preprocessor's).
# Point data_root at your copy: --cfg-options train_dataloader.dataset.data_root=/path/to/imagenet/
dataset_type = 'UnlabeledImageDataset'
data_root = 'data/imagenet/'
backend_args = None
num_patches = 10
patch_size = 128
img_scales = [320, 336, 352, 368, 400, 416, 432, 448, 464, 480]
max_img_side = 600

# applied to every patch after its resize to patch_size x patch_size: the augmentation (`patch_augment`, shared by
# the configs whose backbone normalises differently), then the normalisation of model.data_preprocessor (the patches
# go through the same backbone)
patch_augment = dict(type='Compose', transforms=[
    dict(type='RandomApply', prob=0.8,
         transforms=[dict(type='DetrxColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)]),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True, channel_weights=(0.114, 0.587, 0.299)),
    dict(type='RandomApply', prob=0.5, transforms=[dict(type='DetrxGaussianBlur', sigma=(0.1, 2.0))]),
])
patch_pipeline = [patch_augment,
                  dict(type='Normalize', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True)]
train_pipeline = [
    # unreadable / corrupt files are logged with their path and replaced by another image
    dict(type='DetrxLoadImageFromFile', on_error='skip', backend_args=backend_args),
    dict(type='RandomQueryPatches', num_patches=num_patches, min_size=8, patch_size=patch_size,
         patch_pipeline=patch_pipeline),
    dict(type='RandomChoiceResize', scales=[(s, max_img_side) for s in img_scales], keep_ratio=True),
    dict(type='PackQueryPatchInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_prefix=dict(img='train/'), pipeline=train_pipeline,
                 backend_args=backend_args))
# pre-training has no evaluation
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None
