"""SimCLR-style photometric augmentations (colour jitter, Gaussian blur) on uint8 BGR images.

torchvision's ``ColorJitter`` / SimCLR's ``GaussianBlur`` have no counterpart in mmcv / mmdet; these follow
their definitions on ``results['img']`` (H, W, 3) uint8 BGR, as loaded by mmcv. Used by UP-DETR for its query
patches, with mmcv's ``RandomApply`` and ``RandomGrayscale``.
"""
import random
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmdet.registry import TRANSFORMS

Range = Union[float, Sequence[float]]


def _factor_range(value: Range, name: str, center: float = 1.0, bound: Optional[Tuple[float, float]] = (0, None)
                  ) -> Optional[Tuple[float, float]]:
    """torchvision's parameter convention: ``v`` -> ``[center - v, center + v]`` (clipped), or a (min, max)."""
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f'{name} must be >= 0, got {value}')
        if value == 0:
            return None
        low, high = center - value, center + value
    else:
        if len(value) != 2 or value[0] > value[1]:
            raise ValueError(f'{name} must be a number or a (min, max) pair, got {value}')
        low, high = float(value[0]), float(value[1])
    if bound is not None:
        low = max(low, bound[0]) if bound[0] is not None else low
        high = min(high, bound[1]) if bound[1] is not None else high
    return low, high


def _gray(img: np.ndarray) -> np.ndarray:
    """(H, W) float32 luma (ITU-R 601-2, as PIL) of a BGR image."""
    return img[..., 0] * 0.114 + img[..., 1] * 0.587 + img[..., 2] * 0.299


@TRANSFORMS.register_module()
class DetrxColorJitter(BaseTransform):
    """Random brightness, contrast, saturation and hue, in random order (torchvision ``ColorJitter``).

    Each argument is a number ``v`` (factor drawn from ``[max(0, 1 - v), 1 + v]``; hue shift from
    ``[-v, v]`` of a full turn, ``v <= 0.5``) or a ``(min, max)`` range; 0 disables that adjustment.

    Required keys: ``img`` (H, W, 3) uint8 BGR. Modified keys: ``img``.

    Args:
        brightness (float | tuple): multiplies the image. Defaults to 0.
        contrast (float | tuple): blends with the mean grey value. Defaults to 0.
        saturation (float | tuple): blends with the grey image. Defaults to 0.
        hue (float | tuple): shifts the hue, in turns. Defaults to 0.
    """

    def __init__(self, brightness: Range = 0., contrast: Range = 0., saturation: Range = 0., hue: Range = 0.) -> None:
        self.brightness = _factor_range(brightness, 'brightness')
        self.contrast = _factor_range(contrast, 'contrast')
        self.saturation = _factor_range(saturation, 'saturation')
        self.hue = _factor_range(hue, 'hue', center=0.0, bound=(-0.5, 0.5))

    @cache_randomness
    def _sample(self) -> list:
        """The adjustments to apply, in random order, each ``(name, factor)``."""
        ops = [(name, random.uniform(*rng)) for name, rng in
               (('brightness', self.brightness), ('contrast', self.contrast), ('saturation', self.saturation),
                ('hue', self.hue)) if rng is not None]
        random.shuffle(ops)
        return ops

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'{type(self).__name__} needs an (H, W, 3) uint8 BGR image, got {img.dtype} '
                             f'{img.shape}')
        out = img
        for name, factor in self._sample():
            out = getattr(self, f'_{name}')(out, factor)
        results['img'] = out
        return results

    @staticmethod
    def _blend(img: np.ndarray, other: Union[np.ndarray, float], factor: float) -> np.ndarray:
        mixed = img.astype(np.float32) * factor + other * (1.0 - factor)
        return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)

    def _brightness(self, img: np.ndarray, factor: float) -> np.ndarray:
        return self._blend(img, 0.0, factor)

    def _contrast(self, img: np.ndarray, factor: float) -> np.ndarray:
        return self._blend(img, float(np.rint(_gray(img.astype(np.float32)).mean())), factor)

    def _saturation(self, img: np.ndarray, factor: float) -> np.ndarray:
        return self._blend(img, _gray(img.astype(np.float32))[..., None], factor)

    @staticmethod
    def _hue(img: np.ndarray, shift: float) -> np.ndarray:
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL)  # hue in [0, 256) = one turn
        hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(round(shift * 256))) % 256).astype(np.uint8)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(brightness={self.brightness}, contrast={self.contrast}, '
                f'saturation={self.saturation}, hue={self.hue})')


@TRANSFORMS.register_module()
class DetrxGaussianBlur(BaseTransform):
    """Gaussian blur with a random standard deviation (SimCLR's ``GaussianBlur``).

    Required keys: ``img``. Modified keys: ``img``.

    Args:
        sigma (tuple[float, float]): the standard deviation is drawn uniformly from this range, in pixels.
            Defaults to (0.1, 2.0).
    """

    def __init__(self, sigma: Tuple[float, float] = (0.1, 2.0)) -> None:
        if len(sigma) != 2 or not 0 < sigma[0] <= sigma[1]:
            raise ValueError(f'sigma must be a (min, max) range with 0 < min <= max, got {sigma}')
        self.sigma = (float(sigma[0]), float(sigma[1]))

    @cache_randomness
    def _sample(self) -> float:
        return random.uniform(*self.sigma)

    def transform(self, results: dict) -> dict:
        sigma = self._sample()
        results['img'] = cv2.GaussianBlur(results['img'], ksize=(0, 0), sigmaX=sigma, sigmaY=sigma)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(sigma={self.sigma})'
