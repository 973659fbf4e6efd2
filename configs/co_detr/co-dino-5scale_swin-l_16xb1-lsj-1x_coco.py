# Co-DINO, Swin-L (ImageNet-22k, 384 px), 5 scales, LSJ 1280 + copy-paste, 12 epochs, batch 16x1.
# As mmdet's projects/CO-DETR co_dino_5scale_swin_l_lsj_16xb1_1x_coco.py; the R50 1x config holds the model.
# Memory: set model.query_head.encoder.num_cp=6 (needs `pip install fairscale`) to checkpoint the encoder.
#   mim train mmdet_detrx configs/co_detr/co-dino-5scale_swin-l_16xb1-lsj-1x_coco.py --launcher pytorch --gpus 16
_base_ = './co-dino-5scale_r50_8xb2-lsj-1x_coco.py'

image_size = (1280, 1280)
pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_large_patch4_window12_384_22k.pth'  # noqa

model = dict(
    data_preprocessor=dict(batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    backbone=dict(_delete_=True, type='SwinTransformer', pretrain_img_size=384, embed_dims=192, depths=[2, 2, 18, 2],
                  num_heads=[6, 12, 24, 48], window_size=12, mlp_ratio=4, qkv_bias=True, qk_scale=None, drop_rate=0.,
                  attn_drop_rate=0., drop_path_rate=0.3, patch_norm=True, out_indices=(0, 1, 2, 3), with_cp=False,
                  convert_weights=True, init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(in_channels=[192, 384, 768, 1536]))

# LSJ at 1280: the R50 config's pipelines with its size-dependent transforms again (a base's lists keep the base's
# image_size); the named transforms are the R50 config's
load_pipeline = [
    dict(type='LoadImageFromFile'),
    {{_base_.load_annotations}},
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size, recompute_bbox=True,
         allow_negative_crop=True),
    {{_base_.filter_annotations}},
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
]
train_dataloader = dict(batch_size=1, num_workers=1, dataset=dict(dataset=dict(pipeline=load_pipeline)))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='Pad', size=image_size, pad_val=dict(img=(114, 114, 114))),
    {{_base_.load_annotations}},
    {{_base_.pack_test}},
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# base_batch_size = 16 GPUs x 1 image
auto_scale_lr = dict(base_batch_size=16)
