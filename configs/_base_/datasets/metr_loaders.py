# Dataloaders and evaluators shared by the METR dataset configs (./metr_coco128-bccd.py, ./metr_coco128.py,
# ./metr_bccd.py): each sets the datasets (MultiLabelSpaceDataset) and the evaluator
# (MultiLabelSpaceMetric) of its label spaces.
train_dataloader = dict(batch_size=2, num_workers=1, persistent_workers=True,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        batch_sampler=dict(type='AspectRatioBatchSampler'), dataset=dict())
val_dataloader = dict(batch_size=1, num_workers=1, persistent_workers=True, drop_last=False,
                      sampler=dict(type='DefaultSampler', shuffle=False), dataset=dict())
test_dataloader = val_dataloader
