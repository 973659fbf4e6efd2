# Dataloaders and evaluators shared by the METR dataset configs (./metr_coco128-bccd.py, ./metr_coco128.py,
# ./metr_bccd.py): a MultiLabelSpaceDataset per loader and a MultiLabelSpaceMetric; each config names its label
# spaces and gives their datasets and metrics.
train_dataloader = dict(batch_size=2, num_workers=1, persistent_workers=True,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        batch_sampler=dict(type='AspectRatioBatchSampler'),
                        dataset=dict(type='MultiLabelSpaceDataset'))
val_dataloader = dict(batch_size=1, num_workers=1, persistent_workers=True, drop_last=False,
                      sampler=dict(type='DefaultSampler', shuffle=False), dataset=dict(type='MultiLabelSpaceDataset'))
test_dataloader = val_dataloader
val_evaluator = dict(type='MultiLabelSpaceMetric')
test_evaluator = val_evaluator
