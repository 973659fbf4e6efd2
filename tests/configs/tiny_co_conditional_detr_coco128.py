# A tiny Co-Conditional-DETR on coco128 for the analysis-tool tests: the small config's ResNet-18 (no pretrained
# weights) and 128-d transformer with 1 encoder / 1 decoder layer, 10 queries, 128x96 images, first 4 images;
# auxiliary RPN + RoI head (aux0) and ATSS (aux1) as in the small config.
_base_ = ['../../configs/co_detr/co-conditional-detr_r18_1xb2-12e_coco128.py', './_base_/tiny_coco128_data.py']
model = dict(
    backbone=dict(init_cfg=None, frozen_stages=-1),
    query_head=dict(num_queries=10, encoder=dict(num_layers=1), decoder=dict(num_layers=1),
                    test_cfg=dict(max_per_img=10)),
    aux_head_loss_weight=2.0)

train_dataloader = {{_base_.tiny_train_dataloader}}
val_dataloader = {{_base_.tiny_val_dataloader}}
test_dataloader = val_dataloader
max_epochs = 1
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
randomness = dict(seed=0, deterministic=False)
