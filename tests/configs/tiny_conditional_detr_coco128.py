# A tiny Conditional DETR (ours) on coco128 for entry-point tests: ResNet-18 without pretrained weights, 64-d
# transformer, 1 encoder / 1 decoder layer, 10 queries, images at most 128x96, first 4 images (./_base_/
# tiny_coco128_data.py). Seconds per epoch on CPU.
_base_ = ['../../configs/_base_/models/conditional-detr_r18.py', '../../configs/_base_/datasets/coco128_detection.py',
          '../../configs/_base_/schedules/adamw_12e.py', '../../configs/_base_/default_runtime.py',
          './_base_/tiny_coco128_data.py']
d = 64
attn = dict(embed_dims=d, num_heads=4, attn_drop=0.0, proj_drop=0.0)
ffn = dict(embed_dims=d, feedforward_channels=128, ffn_drop=0.0)
model = dict(
    num_queries=10,
    backbone=dict(init_cfg=None, frozen_stages=-1),
    neck=dict(out_channels=d),
    encoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=dict(embed_dims=d, num_heads=4, dropout=0.0),
                                              ffn_cfg=ffn)),
    decoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn)),
    positional_encoding=dict(num_feats=d // 2),
    bbox_head=dict(embed_dims=d),
    test_cfg=dict(max_per_img=10))

train_dataloader = {{_base_.tiny_train_dataloader}}
val_dataloader = {{_base_.tiny_val_dataloader}}
test_dataloader = val_dataloader
max_epochs = 2
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
randomness = dict(seed=0, deterministic=False)
