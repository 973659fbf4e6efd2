# UP-DETR pre-training data on the vendored images, labels unused: the 128 coco128 images and the 364 BCCD
# images (data/coco128/train2017, data/bccd/BCCD/JPEGImages). The reference pipeline of
# ./up-detr_pretrain_imagenet.py (same patch augmentation), scaled down for CPU runs: images with shortest side
# 192-256 px (longest at most 384 px), 64x64 patches.
_base_ = './up-detr_pretrain_imagenet.py'

data_root = '{{ fileDirname }}/../../../data/'
num_patches = 10
patch_size = 64
img_scales = [192, 224, 256]
max_img_side = 384

train_pipeline = [
    dict(type='DetrxLoadImageFromFile', on_error='skip'),
    dict(type='RandomQueryPatches', num_patches=num_patches, min_size=8, patch_size=patch_size,
         patch_pipeline={{ _base_.patch_pipeline }}),
    dict(type='RandomChoiceResize', scales=[(s, max_img_side) for s in img_scales], keep_ratio=True),
    dict(type='PackQueryPatchInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    dataset=dict(data_root=data_root, data_prefix=dict(img=''),
                 img_dirs=['coco128/train2017/', 'bccd/BCCD/JPEGImages/'], pipeline=train_pipeline))
