"""Drawing helpers of the scripts in ``tools/analysis``.

Loading (config, checkpoint, image) with clear errors, selecting the top predictions, and a few matplotlib
primitives (panel grid, boxes, heat-map overlay, PNG output). Figures are rendered with the ``Agg`` backend,
so no display is needed.
"""
import copy
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import mmcv  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mmdet_detrx.utils.cli import check_checkpoint, resolve_config  # noqa: E402

BOX_COLORS = ('#ff3b30', '#007aff', '#ff9500', '#af52de', '#5ac8fa', '#ffcc00', '#ff2d55', '#a2845e')
GT_COLOR = '#00e676'


def read_rgb(path: str) -> np.ndarray:
    """Reads an image as RGB uint8, (H, W, 3).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        OSError: the file is not a readable image.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'image not found: {path!r}')
    img = mmcv.imread(path, channel_order='rgb')
    if img is None:
        raise OSError(f'cannot read image {path!r}')
    return img


def load_detector(config: str, checkpoint: Optional[str], device: str = 'cpu', cfg_options: Optional[dict] = None,
                  allow_partial: bool = False):
    """mmdet's ``init_detector`` with our config lookup (paths or config names) and file checks.

    Args:
        config: config path or name of one of our configs.
        checkpoint: checkpoint path; None builds the model without loading weights (the caller decides
            about ``init_weights``).
        device: e.g. ``'cpu'``.
        cfg_options: ``--cfg-options`` overrides.
        allow_partial: load a checkpoint that does not fit the model (reported) instead of raising
            :class:`~mmdet_detrx.utils.strict_load.CheckpointMismatchError`.

    Returns:
        The detector in eval mode, with ``cfg`` and ``dataset_meta`` set (from the checkpoint when it has one,
        else from the config's classes).
    """
    from mmdet.apis import init_detector
    from mmdet_detrx.utils.strict_load import load_model_weights
    model = init_detector(resolve_config(config), None, device=device, cfg_options=cfg_options)
    if checkpoint is not None:
        check_checkpoint(checkpoint)
        meta = load_model_weights(model, checkpoint, allow_partial=allow_partial).get('meta', {})
        if meta.get('dataset_meta'):
            model.dataset_meta = {k.lower(): v for k, v in meta['dataset_meta'].items()}
            return model.eval()
    try:  # the config's own class names (init_detector without a checkpoint assumes COCO's)
        from mmdet.registry import DATASETS
        dataset = copy.deepcopy(model.cfg.test_dataloader.dataset)
        dataset['lazy_init'] = True
        model.dataset_meta = dict(DATASETS.build(dataset).metainfo)
    except Exception:  # noqa: BLE001 - wrappers without lazy_init keep init_detector's classes
        pass
    return model.eval()


def top_instances(instances, score_thr: float, max_boxes: int):
    """Keeps the predictions with ``scores >= score_thr``, at most ``max_boxes`` of the highest scores.

    Args:
        instances (InstanceData): with ``scores`` (n, ) and any other per-box fields.
        score_thr: score threshold.
        max_boxes: maximum number kept.

    Returns:
        InstanceData: the kept predictions, highest score first when truncated.
    """
    instances = instances[instances.scores >= score_thr]
    if len(instances.scores) > max_boxes:
        instances = instances[torch.argsort(instances.scores, descending=True)[:max_boxes]]
    return instances


def panel_grid(num_rows: int, num_cols: int, panel_size: float = 3.2,
               aspect: float = 1.0) -> Tuple[Figure, np.ndarray]:
    """A figure of ``num_rows x num_cols`` image panels without ticks.

    Args:
        num_rows: rows.
        num_cols: columns.
        panel_size: width of one panel in inches.
        aspect: height / width of one panel.

    Returns:
        The figure and a (num_rows, num_cols) array of axes.
    """
    fig, axes = plt.subplots(num_rows, num_cols, squeeze=False,
                             figsize=(panel_size * num_cols, panel_size * aspect * num_rows + 0.4))
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig, axes


def draw_boxes(ax: Axes, boxes, color: str, linewidth: float = 1.5, labels: Optional[Sequence[str]] = None,
               alpha: float = 1.0) -> int:
    """Draws (x1, y1, x2, y2) pixel boxes as rectangles on ``ax``; returns the number drawn.

    Args:
        ax: axes showing the image in pixel coordinates.
        boxes: (n, 4) array or tensor.
        color: edge colour.
        linewidth: line width.
        labels: optional text per box, written at its top-left corner.
        alpha: line opacity.
    """
    boxes = np.asarray(boxes.detach().cpu() if isinstance(boxes, torch.Tensor) else boxes, dtype=np.float64)
    boxes = boxes.reshape(-1, 4)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        ax.add_patch(matplotlib.patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=color,
                                                  linewidth=linewidth, alpha=alpha))
        if labels is not None:
            ax.text(x1, y1, labels[i], color='white', fontsize=7, va='bottom',
                    bbox=dict(facecolor=color, alpha=0.8, pad=1, linewidth=0))
    return len(boxes)


def show_image(ax: Axes, img: np.ndarray, title: Optional[str] = None) -> None:
    """Shows an RGB image (H, W, 3) on ``ax`` in pixel coordinates, with an optional title."""
    ax.imshow(img)
    ax.set_xlim(0, img.shape[1])
    ax.set_ylim(img.shape[0], 0)
    if title:
        ax.set_title(title, fontsize=8)


def overlay_heatmap(ax: Axes, img: np.ndarray, heat: np.ndarray, title: Optional[str] = None,
                    alpha: float = 0.55, cmap: str = 'jet') -> None:
    """Shows ``img`` with ``heat`` (same H, W) normalized to [0, 1] on top.

    Args:
        ax: target axes.
        img: RGB image, (H, W, 3).
        heat: non-negative map, (H, W).
        title: panel title.
        alpha: opacity of the heat map.
        cmap: matplotlib colour map.
    """
    if heat.shape != img.shape[:2]:
        raise ValueError(f'heat map shape {heat.shape} != image shape {img.shape[:2]}')
    show_image(ax, img, title)
    lo, hi = float(heat.min()), float(heat.max())
    ax.imshow((heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat), cmap=cmap, alpha=alpha,
              vmin=0.0, vmax=1.0)


def feature_map_to_image(heat: np.ndarray, batch_input_shape: Tuple[int, int], img_shape: Tuple[int, int],
                         ori_shape: Tuple[int, int]) -> np.ndarray:
    """Resizes a map over the padded network input to the original image.

    The (h, w) map covers the padded batch input ``batch_input_shape``; its ``img_shape`` part is the
    resized image, which is then resized to ``ori_shape``.

    Args:
        heat: (h, w) map.
        batch_input_shape: (H_pad, W_pad).
        img_shape: (H_img, W_img) of the resized image inside the padded input.
        ori_shape: (H_ori, W_ori) of the original image.

    Returns:
        (H_ori, W_ori) float32 map.
    """
    pad_h, pad_w = (int(v) for v in batch_input_shape[:2])
    img_h, img_w = (int(v) for v in img_shape[:2])
    full = mmcv.imresize(heat.astype(np.float32), (pad_w, pad_h), interpolation='bilinear')
    return mmcv.imresize(full[:img_h, :img_w], (int(ori_shape[1]), int(ori_shape[0])), interpolation='bilinear')


def save_figure(fig: Figure, out: str, dpi: int = 110) -> str:
    """Writes ``fig`` as PNG to ``out`` (creating its folder), closes it and returns ``out``."""
    if not out.lower().endswith('.png'):
        raise ValueError(f'--out must be a .png file, got {out!r}')
    folder = osp.dirname(osp.abspath(out))
    os.makedirs(folder, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=dpi, format='png')
    plt.close(fig)
    return out


def xyxy_boxes(cxcywh, width: float, height: float) -> np.ndarray:
    """Normalized (cx, cy, w, h) boxes (n, 4) -> pixel (x1, y1, x2, y2) of a ``width x height`` image."""
    b = np.asarray(cxcywh.detach().cpu() if isinstance(cxcywh, torch.Tensor) else cxcywh, dtype=np.float64)
    b = b.reshape(-1, 4) * np.array([width, height, width, height])
    return np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2], 1)


def class_names(model) -> List[str]:
    """The model's class names (``dataset_meta['classes']``), or empty."""
    return list((getattr(model, 'dataset_meta', None) or {}).get('classes', []))
