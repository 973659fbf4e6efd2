"""A pure-PyTorch ``mmcv._ext`` for the lent GPU machine (scripts/device/run.sh copies it there; not the plugin).

mmcv 2.1.0 has no wheel for that machine's torch, and compiling its CUDA ops would take most of a 15-minute
lease. mmcv's ops import ``mmcv._ext`` and, on CUDA tensors, call a few of its functions: these compute the same
with torchvision (or pure PyTorch where torchvision does not work) and autograd: ``nms``, average ``roi_align``
forward / backward, ``sigmoid_focal_loss`` forward / backward (mmdet's ``FocalLoss`` on CUDA) and
``ms_deform_attn`` forward / backward (mmcv's PyTorch reference). Any other function raises when called.
tests/test_tools/test_device_kit.py checks them against mmcv's compiled ops on the CPU.
"""
import torch
import torch.nn.functional as F

try:
    import torchvision
    torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
except Exception:  # no working torchvision: pure-PyTorch fallbacks below
    torchvision = None


def _nms_torch(boxes, scores, iou_threshold):
    order = scores.argsort(descending=True)
    b = boxes[order].double().cpu()
    area = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.maximum(b[:, None, :2], b[None, :, :2])
    rb = torch.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    over = (inter / (area[:, None] + area[None] - inter).clamp(min=1e-12)) > iou_threshold
    keep = torch.ones(len(b), dtype=torch.bool)
    over = over.numpy()
    keep_np = keep.numpy()
    for i in range(len(b)):
        if keep_np[i]:
            sup = over[i].copy()
            sup[:i + 1] = False
            keep_np[sup] = False
    return order[torch.from_numpy(keep_np).to(order.device)]


def nms(boxes, scores, iou_threshold, offset=0):
    assert offset == 0, offset
    if torchvision is None:
        return _nms_torch(boxes, scores, float(iou_threshold))
    return torchvision.ops.nms(boxes.float(), scores.float(), float(iou_threshold))


def _roi_align(x, rois, size, spatial_scale, sampling_ratio, aligned):
    if torchvision is None:
        from mmdet_detrx.models.layers.gather_roi_align import gather_roi_align
        return gather_roi_align(x, rois.to(x.dtype), size, spatial_scale, sampling_ratio, aligned)
    return torchvision.ops.roi_align(x, rois.to(x.dtype), size, spatial_scale, sampling_ratio, aligned)


def roi_align_forward(input, rois, output, argmax_y, argmax_x, aligned_height, aligned_width, spatial_scale,
                      sampling_ratio, pool_mode, aligned):
    assert pool_mode == 1, 'avg pooling only'
    output.copy_(_roi_align(input, rois, (aligned_height, aligned_width), spatial_scale, sampling_ratio, aligned))


def roi_align_backward(grad_output, rois, argmax_y, argmax_x, grad_input, aligned_height, aligned_width,
                       spatial_scale, sampling_ratio, pool_mode, aligned):
    assert pool_mode == 1, 'avg pooling only'
    with torch.enable_grad():
        x = torch.zeros_like(grad_input, requires_grad=True)
        out = _roi_align(x, rois, (aligned_height, aligned_width), spatial_scale, sampling_ratio, aligned)
        g, = torch.autograd.grad(out, x, grad_output)
    grad_input.copy_(g)


def _focal(x, target, gamma, alpha):
    """mmcv's elementwise sigmoid focal loss: ``target`` holds class indices, ``x.size(1)`` = background."""
    from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss  # not at import: mmcv.ops imports this module
    c = x.size(1)
    one_hot = F.one_hot(target.long().clamp(0, c), c + 1)[:, :c].to(x.dtype)
    return py_sigmoid_focal_loss(x, one_hot, None, gamma, alpha, 'none')


def sigmoid_focal_loss_forward(input, target, weight, output, gamma, alpha):
    assert weight.numel() == 0, 'class weights not supported'
    output.copy_(_focal(input, target, gamma, alpha))


def sigmoid_focal_loss_backward(input, target, weight, grad_input, gamma, alpha):
    assert weight.numel() == 0, 'class weights not supported'
    with torch.enable_grad():
        x = input.detach().requires_grad_(True)
        g, = torch.autograd.grad(_focal(x, target, gamma, alpha).sum(), x)
    grad_input.copy_(g)


def ms_deform_attn_forward(value, spatial_shapes, level_start_index, sampling_loc, attn_weight, im2col_step):
    from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch
    return multi_scale_deformable_attn_pytorch(value, spatial_shapes, sampling_loc, attn_weight)


def ms_deform_attn_backward(value, spatial_shapes, level_start_index, sampling_loc, attn_weight, grad_output,
                            grad_value, grad_sampling_loc, grad_attn_weight, im2col_step):
    from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch
    with torch.enable_grad():
        v, s, a = (t.detach().requires_grad_(True) for t in (value, sampling_loc, attn_weight))
        out = multi_scale_deformable_attn_pytorch(v, spatial_shapes, s, a)
        gv, gs, ga = torch.autograd.grad(out, (v, s, a), grad_output.reshape(out.shape))
    grad_value.copy_(gv)
    grad_sampling_loc.copy_(gs)
    grad_attn_weight.copy_(ga)


def __getattr__(name):
    def missing(*args, **kwargs):
        raise NotImplementedError(f'mmcv._ext.{name}: no pure-PyTorch stand-in in the GPU scratch runs')
    return missing
