# DAB-DETR (mmdet's DABDETR: anchor boxes as queries, refined layer by layer) at the size of the small models
# (128-d, 2+2 layers, PReLU FFNs and no dropout as mmdet's dab-detr_r50 config), as variables with `_delete_=True`
# that replace the Conditional DETR parts of an inherited model: `dab_detector` for ./dab-detr_r18.py (plain),
# `co_dab_detector` for ./co-dab-detr_r18.py (Co-DETR over DAB-DETR, head `co_dab_head`).
_dab_dims = 128
_dab_ffn = dict(embed_dims=_dab_dims, feedforward_channels=512, ffn_drop=0.0, act_cfg=dict(type='PReLU'))
dab_encoder = dict(
    _delete_=True,
    num_layers=2,
    layer_cfg=dict(self_attn_cfg=dict(embed_dims=_dab_dims, num_heads=8, dropout=0.0, batch_first=True),
                   ffn_cfg=_dab_ffn))
dab_decoder = dict(
    _delete_=True,
    num_layers=2,
    query_dim=4,
    query_scale_type='cond_elewise',
    with_modulated_hw_attn=True,
    layer_cfg=dict(
        self_attn_cfg=dict(embed_dims=_dab_dims, num_heads=8, attn_drop=0.0, proj_drop=0.0, cross_attn=False),
        cross_attn_cfg=dict(embed_dims=_dab_dims, num_heads=8, attn_drop=0.0, proj_drop=0.0, cross_attn=True),
        ffn_cfg=_dab_ffn),
    return_intermediate=True)
dab_positional_encoding = dict(_delete_=True, num_feats=_dab_dims // 2, temperature=20, normalize=True)
dab_head = dict(_delete_=True, type='DABDETRHead', num_classes=80, embed_dims=_dab_dims,
                loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
                loss_bbox=dict(type='L1Loss', loss_weight=5.0), loss_iou=dict(type='GIoULoss', loss_weight=2.0))
co_dab_head = dict(dab_head, type='DetrxCoDABDETRHead')
# the whole detector minus backbone, neck and matching (those of the inherited model stay)
dab_detector = dict(type='DABDETR', with_random_refpoints=False, num_patterns=0, encoder=dab_encoder,
                    decoder=dab_decoder, positional_encoding=dab_positional_encoding, bbox_head=dab_head)
co_dab_detector = dict(dab_detector, bbox_head=co_dab_head)
