# DETR's multi-scale training augmentation (flip; shorter side 480-800, or resize 400-600 + random crop + 480-800;
# longer side <= 1333), as used by the DETR family's COCO configs in mmdet, as a variable:
# `train_pipeline = {{_base_.detr_train_pipeline}}`.
_multiscale = dict(type='RandomChoiceResize',
                   scales=[(480, 1333), (512, 1333), (544, 1333), (576, 1333), (608, 1333), (640, 1333),
                           (672, 1333), (704, 1333), (736, 1333), (768, 1333), (800, 1333)],
                   keep_ratio=True)
detr_train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice',
         transforms=[[_multiscale],
                     [dict(type='RandomChoiceResize', scales=[(400, 4200), (500, 4200), (600, 4200)], keep_ratio=True),
                      dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                           allow_negative_crop=True), _multiscale]]),
    dict(type='PackDetInputs')
]
