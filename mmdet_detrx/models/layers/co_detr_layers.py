"""Building blocks of Co-DETR (`DETRs with Collaborative Hybrid Assignments Training
<https://arxiv.org/abs/2211.12860>`_) that are not heads:

* :class:`DetrxCoMemoryNeck` turns the encoder's flattened memory back into feature maps (plus extra
  downsampled levels, and upsampled ones for a single-scale encoder) on which the auxiliary one-to-many heads
  are trained;
* :func:`pack_positive_queries` pads the positives each auxiliary head assigned to a batch of fixed-size
  query groups (:class:`CoQueryGroup`) with masks and fixed targets;
* :class:`DetrxCoPositiveQueryGenerator` embeds the positive boxes (and the features at them,
  :func:`box_centre_features`) into decoder queries;
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule, ModuleList
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet.models.detectors.deformable_detr import DeformableDETR
from mmdet.models.layers.transformer import inverse_sigmoid
from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_xyxy_to_cxcywh
from mmdet.utils import ConfigType, OptMultiConfig


@MODELS.register_module()
class DetrxCoMemoryNeck(BaseModule):
    """Reshapes the encoder memory into multi-scale feature maps for the auxiliary heads.

    Co-DETR trains its auxiliary heads on the *encoder output* (so their one-to-many supervision reaches the
    encoder) rather than on the neck features. The flattened memory is split per level and reshaped to
    ``(bs, C, h, w)``; ``num_extra_levels`` more levels are appended by a stride-2 3x3 convolution + norm
    (the paper's extra downsampled level, e.g. stride 128 after 5 encoder levels of strides 4..64).

    A single-scale encoder (DETR, Conditional DETR: one stride-32 level) gets the paper's multi-scale adapter:
    ``num_upsample_levels`` finer levels are prepended, each a 2x bilinear upsampling of the next coarser one
    followed by a 3x3 convolution + norm (e.g. strides 8, 16 from 32), and ``num_extra_levels`` coarser ones
    appended as above.

    Args:
        embed_dims: Channels of the memory, C.
        num_extra_levels: Extra stride-2 levels appended after the last memory level. Defaults to 1.
        num_upsample_levels: Finer levels prepended before the first memory level. Defaults to 0.
        norm_cfg: Norm after each extra convolution. Defaults to GN with 32 groups.
        init_cfg: Initialization config.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_extra_levels: int = 1,
                 num_upsample_levels: int = 0,
                 norm_cfg: ConfigType = dict(type='GN', num_groups=32),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.num_extra_levels = num_extra_levels
        self.num_upsample_levels = num_upsample_levels

        def conv_norm(stride: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(embed_dims, embed_dims, kernel_size=3, stride=stride, padding=1),
                build_norm_layer(norm_cfg, embed_dims)[1])

        # The single extra level is called ``downsample`` (nn.Sequential(conv, norm)) so that the
        # reference Co-DINO checkpoints (``query_head.downsample.*``) map onto it one to one.
        extra = [conv_norm(2) for _ in range(num_extra_levels)]
        if num_extra_levels == 1:
            self.downsample = extra[0]
        elif num_extra_levels > 1:
            self.downsample = ModuleList(extra)
        if num_upsample_levels > 0:
            # upsample[i] makes the level 2^(i+1) times finer than the first memory level
            self.upsample = ModuleList([conv_norm(1) for _ in range(num_upsample_levels)])

    def _extra_convs(self) -> List[nn.Module]:
        if self.num_extra_levels == 0:
            return []
        if self.num_extra_levels == 1:
            return [self.downsample]
        return list(self.downsample)

    def forward(self, memory: Tensor, spatial_shapes: Sequence[Tuple[int, int]]) -> Tuple[Tensor, ...]:
        """Splits and reshapes the memory, then prepends the upsampled and appends the extra levels.

        Args:
            memory: Encoder output, shape (bs, sum_l h_l * w_l, C), levels concatenated in order.
            spatial_shapes: (h_l, w_l) of every level, a (num_levels, 2) tensor or sequence of pairs.

        Returns:
            Feature maps, each (bs, C, h, w), fine to coarse: the ``num_upsample_levels`` upsampled levels
            (the finest first), the num_levels memory levels, then the extra levels.
        """
        bs, _, c = memory.shape
        sizes = [(int(h), int(w)) for h, w in spatial_shapes]
        chunks = memory.split([h * w for h, w in sizes], dim=1)
        # contiguous NCHW, as the reference: mmcv's RoIAlign kernels read the raw buffer as NCHW and would pool
        # scrambled features from a transposed view
        maps = [chunk.transpose(1, 2).reshape(bs, c, h, w).contiguous() for chunk, (h, w) in zip(chunks, sizes)]
        finer = []
        for conv in (self.upsample if self.num_upsample_levels > 0 else []):
            coarse = finer[0] if finer else maps[0]
            finer.insert(0, conv(F.interpolate(coarse, scale_factor=2.0, mode='bilinear', align_corners=False)))
        maps = finer + maps
        for conv in self._extra_convs():
            maps.append(conv(maps[-1]))
        return tuple(maps)


@dataclass
class CoQueryGroup:
    """A batch of customized positive queries from one auxiliary head, padded to a common count.

    Attributes:
        boxes: Positive boxes (anchors / points' boxes / proposals) as normalized (cx, cy, w, h) in [0, 1],
            shape (bs, num_queries, 4). Padding rows hold a dummy box.
        labels: Classes assigned by the auxiliary head, shape (bs, num_queries); padding holds
            ``num_classes`` (background).
        bbox_targets: Matched ground-truth boxes as normalized (cx, cy, w, h), shape (bs, num_queries, 4);
            zeros for padding.
        valid: True for real positives, False for padding, shape (bs, num_queries).
    """
    boxes: Tensor
    labels: Tensor
    bbox_targets: Tensor
    valid: Tensor

    @property
    def num_queries(self) -> int:
        return self.boxes.shape[1]

    def self_attn_mask(self, num_heads: int) -> Tensor:
        """Self-attention mask that isolates padding.

        Real queries attend to all real queries of their image; a padded query attends only to itself
        (a fully masked row would give NaN), so padding neither sees nor is seen by real queries.

        Args:
            num_heads: Attention heads of the decoder's self-attention.

        Returns:
            Bool mask, True = not allowed, shape (bs * num_heads, num_queries, num_queries), ordered as
            :class:`torch.nn.MultiheadAttention` expects (image-major, then head).
        """
        valid = self.valid
        allowed = valid[:, :, None] & valid[:, None, :]
        eye = torch.eye(self.num_queries, dtype=torch.bool, device=valid.device)
        mask = ~(allowed | eye[None])
        return mask.repeat_interleave(num_heads, dim=0)


def pack_positive_queries(positives: List[InstanceData],
                          batch_img_metas: List[dict],
                          num_classes: int,
                          min_queries: int = 9,
                          max_queries: int = 300) -> CoQueryGroup:
    """Pads the positives of one auxiliary head to a batch of customized positive queries.

    The group size is ``clamp(max_i #positives_i, min_queries, max_queries)``; images with more positives
    keep a random subset (global torch RNG, so seeded runs are deterministic).

    Args:
        positives: Per image, an :class:`InstanceData` with ``priors`` (n, 4) positive anchors / boxes /
            proposals as pixel (x1, y1, x2, y2), ``labels`` (n, ) their assigned classes and ``gt_bboxes``
            (n, 4) their matched ground truth as pixel (x1, y1, x2, y2).
        batch_img_metas: Per image meta, ``img_shape`` (h, w) normalizes the boxes (as DETR heads do).
        num_classes: Number of classes, used as the padding (background) label.
        min_queries: Lower bound of the group size.
        max_queries: Upper bound of the group size.

    Returns:
        The padded :class:`CoQueryGroup` (float32 boxes and targets).
    """
    bs = len(positives)
    device = positives[0].priors.device
    num_queries = max([len(p) for p in positives] + [0])
    num_queries = int(min(max(num_queries, min_queries), max_queries))
    boxes = torch.full((bs, num_queries, 4), 0.5, device=device)
    bbox_targets = torch.zeros((bs, num_queries, 4), device=device)
    labels = torch.full((bs, num_queries), num_classes, dtype=torch.long, device=device)
    valid = torch.zeros((bs, num_queries), dtype=torch.bool, device=device)
    for i, (pos, meta) in enumerate(zip(positives, batch_img_metas)):
        n = len(pos)
        if n == 0:
            continue
        priors, gts, lbls = pos.priors.float(), pos.gt_bboxes.float(), pos.labels.long()
        if n > num_queries:
            keep = torch.randperm(n, device=device)[:num_queries]
            priors, gts, lbls = priors[keep], gts[keep], lbls[keep]
            n = num_queries
        img_h, img_w = meta['img_shape'][:2]
        factor = priors.new_tensor([img_w, img_h, img_w, img_h])
        boxes[i, :n] = bbox_xyxy_to_cxcywh(priors / factor).clamp(0.0, 1.0)
        bbox_targets[i, :n] = bbox_xyxy_to_cxcywh(gts / factor)
        labels[i, :n] = lbls
        valid[i, :n] = True
    return CoQueryGroup(boxes=boxes, labels=labels, bbox_targets=bbox_targets, valid=valid)


def box_centre_features(feat_maps: Sequence[Tensor], boxes: Tensor, batch_img_metas: List[dict],
                        cells_per_level: float = 7.0) -> Tensor:
    """The multi-scale feature at every box: bilinearly sampled at the box centre on the level that fits its size.

    The level is chosen as mmdet's RoI extractors choose one (``floor(log2(scale / finest_scale))``), in feature
    cells: a box ``cells_per_level`` cells wide (geometric mean of width and height) on the finest level stays
    there, one twice as large goes one level coarser, and so on (clamped to the levels given).

    Args:
        feat_maps (Sequence[Tensor]): L maps (B, C, H_l, W_l), finest first, each covering the padded batch.
        boxes (Tensor): (B, n, 4) normalized (cx, cy, w, h) relative to each image's ``img_shape``.
        batch_img_metas (list[dict]): B metas with ``img_shape`` and ``batch_input_shape`` (both (h, w)).
        cells_per_level (float): box size, in cells of the finest level, that maps to it. Defaults to 7 (the 56 px
            ``finest_scale`` of mmdet at stride 8).

    Returns:
        Tensor: (B, n, C), in the maps' dtype.
    """
    feat = feat_maps[0]
    img_hw = boxes.new_tensor([meta['img_shape'][:2] for meta in batch_img_metas])  # (B, 2) (h, w)
    pad_hw = boxes.new_tensor([meta['batch_input_shape'][:2] for meta in batch_img_metas])
    scale = (img_hw / pad_hw)[:, None]  # image extent in the padded batch, (B, 1, 2) (h, w)
    centre = boxes[..., :2] * scale.flip(-1)  # (x, y) in [0, 1] of the padded batch
    size = boxes[..., 2:] * scale.flip(-1) * boxes.new_tensor(feat.shape[-1:-3:-1])  # (w, h) in finest cells
    level = torch.floor(torch.log2(size.prod(-1).clamp(min=1e-12).sqrt() / cells_per_level + 1e-6))
    level = level.clamp(0, len(feat_maps) - 1).long()  # (B, n)
    grid = (centre * 2 - 1)[:, :, None].to(feat.dtype)  # (B, n, 1, 2) for grid_sample
    sampled = torch.stack([
        F.grid_sample(level_feat, grid, mode='bilinear', align_corners=False)[..., 0].transpose(1, 2)
        for level_feat in feat_maps
    ])  # (L, B, n, C)
    return sampled.gather(0, level[None, ..., None].expand(1, -1, -1, sampled.size(-1)))[0]


@MODELS.register_module()
class DetrxCoPositiveQueryGenerator(BaseModule):
    """Embeds customized positive boxes into decoder queries, one projection per auxiliary head.

    box (cx, cy, w, h) -> inverse sigmoid -> sine embedding of the 4 coordinates (``4 * embed_dims / 2``
    channels, the proposal embedding of Deformable DETR) -> ``Linear`` -> ``LayerNorm``; with ``with_content_feat``
    the content query also gets ``LayerNorm(Linear(feature at the box))``, the feature sampled from the auxiliary
    heads' multi-scale maps (:func:`box_centre_features`): Co-DETR's ``Q_i = Linear(PE(B_i)) + Linear(E(F, B_i))``.

    For a base whose decoder takes the content query alone (DINO, DAB-DETR) the output is that content query
    (``out_channels = embed_dims``). For a Deformable-DETR, Conditional-DETR or DETR base it is split into
    (positional query, content query) (``out_channels = 2 * embed_dims``) and the content feature goes into the
    second half.

    Difference from the reference (Sense-X/Co-DETR ``with_coord_feat``): there each auxiliary head hands over its
    own feature of a positive (ATSS: the anchor's feature vector, RoI head: the pooled RoI feature) and a learnt
    per-head embedding is added to the positional query; here every head's positives are read the same way from
    the shared feature maps (the box centre on the size-matched level) and no per-head embedding is added (the
    projections are per head already). The reference's Co-DINO releases train without it (``False`` in our Co-DINO
    configs, so their checkpoints load strictly); its transformer's default, and the paper's formula, include it.

    Args:
        embed_dims: Decoder width.
        num_groups: Number of auxiliary heads that produce positives (one projection each).
        out_channels: Output width; defaults to ``embed_dims``.
        temperature: Temperature of the sine embedding.
        min_queries: Lower bound of the padded group size (see :func:`pack_positive_queries`).
        max_queries: Upper bound of the padded group size.
        with_content_feat: Add the content term (paper). Defaults to True.
        init_cfg: Initialization config.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_groups: int = 1,
                 out_channels: Optional[int] = None,
                 temperature: int = 10000,
                 min_queries: int = 9,
                 max_queries: int = 300,
                 with_content_feat: bool = True,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.num_groups = num_groups
        self.out_channels = out_channels or embed_dims
        self.temperature = temperature
        self.min_queries = min_queries
        self.max_queries = max_queries
        self.with_content_feat = with_content_feat
        if with_content_feat and self.out_channels not in (embed_dims, 2 * embed_dims):
            raise ValueError(f'with_content_feat needs out_channels of embed_dims ({embed_dims}) or twice that, got '
                             f'{self.out_channels}')
        self.proj = ModuleList([nn.Linear(2 * embed_dims, self.out_channels) for _ in range(num_groups)])
        self.norm = ModuleList([nn.LayerNorm(self.out_channels) for _ in range(num_groups)])
        if with_content_feat:
            self.content_proj = ModuleList([nn.Linear(embed_dims, embed_dims) for _ in range(num_groups)])
            self.content_norm = ModuleList([nn.LayerNorm(embed_dims) for _ in range(num_groups)])

    def init_weights(self) -> None:
        super().init_weights()
        for linear in self.proj:
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def pack(self, positives: List[InstanceData], batch_img_metas: List[dict],
             num_classes: int) -> CoQueryGroup:
        """:func:`pack_positive_queries` with this generator's group size bounds."""
        return pack_positive_queries(positives, batch_img_metas, num_classes,
                                     min_queries=self.min_queries, max_queries=self.max_queries)

    def forward(self, boxes: Tensor, group_idx: int, feat_maps: Optional[Sequence[Tensor]] = None,
                batch_img_metas: Optional[List[dict]] = None) -> Tensor:
        """Embeds a batch of boxes.

        Args:
            boxes: Normalized (cx, cy, w, h) boxes, shape (bs, num_queries, 4).
            group_idx: Which auxiliary head the boxes come from.
            feat_maps: The auxiliary heads' feature maps, each (bs, embed_dims, h, w), finest first; needed with
                ``with_content_feat``.
            batch_img_metas: Per image ``img_shape`` and ``batch_input_shape``; needed with ``with_content_feat``.

        Returns:
            Queries, shape (bs, num_queries, out_channels).
        """
        embed = DeformableDETR.get_proposal_pos_embed(
            inverse_sigmoid(boxes.float()), num_pos_feats=self.embed_dims // 2, temperature=self.temperature)
        query = self.norm[group_idx](self.proj[group_idx](embed))
        if not self.with_content_feat:
            return query
        if feat_maps is None or batch_img_metas is None:
            raise ValueError(f'{type(self).__name__}(with_content_feat=True) needs the feature maps and image metas '
                             f'(or set with_content_feat=False)')
        if feat_maps[0].size(1) != self.embed_dims:
            raise ValueError(f'feature maps have {feat_maps[0].size(1)} channels, the generator embed_dims='
                             f'{self.embed_dims}')
        feats = box_centre_features(feat_maps, boxes.float(), batch_img_metas)
        content = self.content_norm[group_idx](self.content_proj[group_idx](feats)).to(query.dtype)
        return torch.cat([query[..., :-self.embed_dims], query[..., -self.embed_dims:] + content], dim=-1)
