# METR (small) at the width of the small DINO (../_base_/models/dino_lite0.py: 256-d, FFN 512, 2+2 layers, 4 levels,
# no dropout), so that its transformer transfers into DINO / Co-DINO (mmdet's DINO needs 256-d). Everything else as
# ./metr_lite0_1xb2-12e_coco128-bccd.py.
#   1. python tools/train.py configs/metr/metr-256_lite0_1xb2-12e_coco128-bccd.py
#   2. python tools/model_converters/transfer.py work_dirs/metr-256_lite0_1xb2-12e_coco128-bccd/epoch_12.pth \
#          work_dirs/metr-256_lite0_1xb2-12e_coco128-bccd/dino_init.pth \
#          --config configs/metr/dino_lite0_1xb2-14e_bccd_from-metr.py
#   3. python tools/train.py configs/metr/dino_lite0_1xb2-14e_bccd_from-metr.py
_base_ = './metr_lite0_1xb2-12e_coco128-bccd.py'
_dims = 256
model = dict(
    neck=dict(out_channels=_dims),
    encoder=dict(layer_cfg=dict(self_attn_cfg=dict(embed_dims=_dims, dropout=0.0),
                                ffn_cfg=dict(embed_dims=_dims, ffn_drop=0.0))),
    decoder=dict(layer_cfg=dict(self_attn_cfg=dict(embed_dims=_dims, dropout=0.0),
                                cross_attn_cfg=dict(embed_dims=_dims, dropout=0.0),
                                ffn_cfg=dict(embed_dims=_dims, ffn_drop=0.0))),
    positional_encoding=dict(num_feats=_dims // 2),
    bbox_head=dict(embed_dims=_dims))
