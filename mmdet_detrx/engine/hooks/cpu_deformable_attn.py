"""A hook that runs the model's multi-scale deformable attention with our CPU kernel."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS
from ...models.layers.deform_attn_cpu import use_cpu_deformable_attn


@HOOKS.register_module()
class CPUDeformableAttentionHook(Hook):
    """Switches every mmcv ``MultiScaleDeformableAttention`` of the model (e.g. in mmdet's Deformable DETR and
    DINO, which build that class directly) to :class:`~mmdet_detrx.models.layers.deform_attn_cpu.DetrxMSDeformAttn`
    before the run: the same parameters, state dict and function, computed on CPU by our C++ kernel (~3x faster
    forward + backward than mmcv's ``grid_sample`` fallback) and on a GPU by mmcv's CUDA kernel as before.

    Co-DETR detectors switch their base detector themselves (``cpu_deformable_attention=True``); the hook makes
    the plain detectors they are compared with run the same kernel. It logs how many modules it switched.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        switched = use_cpu_deformable_attn(model)
        runner.logger.info(f'CPUDeformableAttentionHook: {switched} MultiScaleDeformableAttention module(s) now '
                           'run the mmdet_detrx CPU kernel on CPU (mmcv\'s kernel on GPU)')
