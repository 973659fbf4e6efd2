# Runtime shared by our configs: mmdet's default runtime plus the plugin import, CPU-friendly defaults.
_base_ = 'mmdet::_base_/default_runtime.py'
custom_imports = dict(imports=['mmdet_detrx', 'mmdet_detrx.checkpoint_loading'], allow_failed_imports=False)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10))
# gloo works on CPU and GPU machines alike; use nccl on GPUs for speed.
env_cfg = dict(dist_cfg=dict(backend='gloo'))
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)
# DETR-family models here have parameters that some steps do not use (Conditional DETR keeps mmdet's layout, in
# which only the first decoder layer uses its query-position projection; UP-DETR freezes the backbone; Co-DETR
# heads can be switched off): DistributedDataParallel must allow unused parameters.
find_unused_parameters = True
