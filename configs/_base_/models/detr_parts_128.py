# DETR's decoder and head over the small 128-d Conditional DETR models (./conditional-detr_r18.py), as variables
# that turn an inherited Conditional DETR part into DETR's: the decoder and its layers become the ModularDETR
# defaults with mmcv MultiheadAttention (the FFN and layer count stay), the head DETR's softmax one (no-object
# weight 0.1; box losses stay). DETR's matching: `batched_softmax_hungarian_assigner` of ./detr_matching.py.
# Used by ./detr_r18.py (plain DETR), ./co-detr_r18.py (Co-DETR over plain DETR, head `co_detr_head`),
# ../../detr/detr_lite0_1xb2-14e_bccd.py and ../../up_detr/up-detr_lite0_1xb4-20e_pretrain-coco128-bccd.py.
_attn = dict(_delete_=True, type='MultiheadAttention', embed_dims=128, num_heads=8, dropout=0.1, batch_first=True)
detr_decoder = dict(type='ModularDETRDecoder',
                    layer_cfg=dict(type='ModularDETRDecoderLayer', self_attn_cfg=_attn, cross_attn_cfg=_attn))
detr_head = dict(type='DETRHead', loss_cls=dict(_delete_=True, type='CrossEntropyLoss', bg_cls_weight=0.1,
                                                use_sigmoid=False, loss_weight=1.0, class_weight=1.0))
co_detr_head = dict(detr_head, type='DetrxCoDETRHead')
