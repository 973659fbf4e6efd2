"""NumPy pre/post-processing around an exported detector (no torch, no mmcv: numpy and OpenCV only).

The exported graph (``tools/deploy/export_onnx.py``) takes one fixed-size normalised image (1, 3, H, W). What
the config's test pipeline and data preprocessor do before the model is done here, outside the graph:

1. ``Resize(scale, keep_ratio=True)``: bilinear resize (``cv2.INTER_LINEAR``, as mmcv's ``imrescale``) by
   ``min(H / h, W / w)`` so the image fits the export box (for images whose orientation matches the box this
   is the config's resize);
2. ``DetDataPreprocessor``: BGR -> RGB (``bgr_to_rgb``), ``(img - mean) / std``, zero padding at the
   bottom/right to (H, W).

The graph treats the whole (H, W) input as image (no padding mask), boxes are in input pixels:
:func:`boxes_to_original` divides by the resize factors, as mmdet's ``rescale=True`` does.
"""
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np


def preprocess_image(img: np.ndarray,
                     shape: Tuple[int, int],
                     mean: Sequence[float],
                     std: Sequence[float],
                     bgr_to_rgb: bool = True,
                     keep_ratio: bool = True) -> Tuple[np.ndarray, Dict]:
    """Resizes, normalises and pads one image to the exported model's input.

    Args:
        img: Image as read by ``cv2.imread`` (BGR), (h, w, 3) uint8 (or float).
        shape: Export input size (H, W).
        mean: Per-channel mean in the model's channel order (after ``bgr_to_rgb``), 3 values.
        std: Per-channel std, 3 values.
        bgr_to_rgb: Flip the channel order before normalising (the config's ``data_preprocessor.bgr_to_rgb``).
        keep_ratio: Keep the aspect ratio (resize to fit, then pad); if False stretch to exactly (H, W).

    Returns:
        ``(inputs, meta)``: inputs (1, 3, H, W) float32; meta with ``img_shape`` (h', w') of the resized image
        inside the padded input, ``scale_factor`` (sx, sy) and ``ori_shape`` (h, w).
    """
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'expected an (h, w, 3) image, got shape {img.shape}')
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f'mean and std need 3 values, got {list(mean)} and {list(std)}')
    out_h, out_w = int(shape[0]), int(shape[1])
    h, w = img.shape[:2]
    if keep_ratio:
        factor = min(out_h / h, out_w / w)
        new_w, new_h = int(w * factor + 0.5), int(h * factor + 0.5)
        new_w, new_h = min(new_w, out_w), min(new_h, out_h)
    else:
        new_w, new_h = out_w, out_h
    resized = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    x = resized.astype(np.float32)
    if bgr_to_rgb:
        x = x[..., ::-1]
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    padded = np.zeros((out_h, out_w, 3), np.float32)
    padded[:new_h, :new_w] = x
    inputs = np.ascontiguousarray(padded.transpose(2, 0, 1)[None])
    meta = dict(img_shape=(new_h, new_w), ori_shape=(h, w), scale_factor=(new_w / w, new_h / h))
    return inputs, meta


def boxes_to_original(boxes: np.ndarray, meta: Dict) -> np.ndarray:
    """Maps xyxy boxes (..., 4) in input pixels back to the original image (divides by the resize factors)."""
    sx, sy = meta['scale_factor']
    return boxes / np.asarray([sx, sy, sx, sy], dtype=boxes.dtype)
