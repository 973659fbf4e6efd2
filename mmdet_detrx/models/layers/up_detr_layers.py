"""UP-DETR query patches: object queries split into groups, one query patch per group.

UP-DETR (Dai et al., CVPR 2021) pre-trains a DETR-family detector to find random crops ("query patches") of an
image in that image. The N object queries are split into M groups; every query of group ``g`` gets the feature
of patch ``g`` added, and the decoder self-attention is block-diagonal over the groups so that the groups
detect their patches independently.

Groups are as equal as possible for any N >= M: the first ``N % M`` groups get ``N // M + 1`` queries, the
others ``N // M`` (the reference implementation needs N divisible by M and builds its mask with the wrong loop
count, which leaves groups fully masked when M > N / M).
"""
from typing import List, Optional, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.utils import OptMultiConfig


def query_group_sizes(num_queries: int, num_groups: int) -> List[int]:
    """Sizes of ``num_groups`` consecutive query groups covering ``num_queries`` queries.

    Args:
        num_queries (int): N, the number of object queries.
        num_groups (int): M, the number of groups (query patches), 1 <= M <= N.

    Returns:
        list[int]: M sizes summing to N; the first ``N % M`` are ``N // M + 1``, the others ``N // M``.

    Raises:
        ValueError: M < 1 or M > N (a group would have no query).
    """
    if num_groups < 1 or num_groups > num_queries:
        raise ValueError(f'cannot split {num_queries} object queries into {num_groups} query groups: '
                         f'need 1 <= num_patches <= num_queries')
    base, extra = divmod(num_queries, num_groups)
    return [base + 1 if g < extra else base for g in range(num_groups)]


def query_group_ids(num_queries: int, num_groups: int, device: Optional[torch.device] = None) -> Tensor:
    """The group of every query.

    Args:
        num_queries (int): N.
        num_groups (int): M, 1 <= M <= N.
        device (torch.device, optional): device of the result.

    Returns:
        Tensor: (N,) long, non-decreasing group index in [0, M), groups sized by :func:`query_group_sizes`.
    """
    sizes = torch.tensor(query_group_sizes(num_queries, num_groups), device=device)
    return torch.repeat_interleave(torch.arange(num_groups, device=device), sizes)


def group_self_attn_mask(group_ids: Tensor) -> Tensor:
    """Block-diagonal self-attention mask: a query attends only to the queries of its own group.

    Args:
        group_ids (Tensor): (Q,) group index of every query.

    Returns:
        Tensor: (Q, Q) bool, ``True`` where attention is **not** allowed (query i, key j in different groups).
    """
    return group_ids[:, None] != group_ids[None, :]


@MODELS.register_module()
class QueryPatchEncoder(BaseModule):
    """Turns query-patch features into UP-DETR's decoder queries and the group attention mask.

    ``query_pos[b, q] = query_embed[perm[q]] + keep[b, q] * patch2query(patch_feats[b, group(q)])`` where
    ``group`` is :func:`query_group_ids`, ``perm`` a random permutation of the object queries in training when
    ``query_shuffle`` (else the identity), and ``keep`` is 0 with probability ``mask_ratio`` per query and image
    in training (1 otherwise), as in the reference implementation.

    In training every image must have exactly ``num_patches`` patches. At inference an image may have
    ``P <= num_patches`` patches (e.g. one-shot detection with one patch): the first P groups are used, i.e.
    the first ``sum(group sizes[:P])`` object queries, with the mask of those groups.

    Args:
        in_channels (int): channels of the patch features (the backbone's last output, e.g. 2048 for
            ResNet-50).
        embed_dims (int): width of the object queries.
        num_patches (int): M, the number of query patches (= query groups) per image. Defaults to 10.
        mask_ratio (float): probability that a query's patch feature is zeroed in training. Defaults to 0.1.
        query_shuffle (bool): randomly permute the object queries over the groups in every training forward
            (paper); the authors' released models were trained without it. Defaults to False.
        init_cfg (dict, optional): initialization config.
    """

    def __init__(self, in_channels: int, embed_dims: int, num_patches: int = 10, mask_ratio: float = 0.1,
                 query_shuffle: bool = False, init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_patches < 1:
            raise ValueError(f'num_patches must be >= 1, got {num_patches}')
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f'mask_ratio must be in [0, 1), got {mask_ratio}')
        self.in_channels, self.embed_dims = in_channels, embed_dims
        self.num_patches, self.mask_ratio, self.query_shuffle = num_patches, mask_ratio, query_shuffle
        self.patch2query = nn.Linear(in_channels, embed_dims)

    def forward(self, patch_feats: Tensor, query_embed: Tensor) -> Tuple[Tensor, Tensor]:
        """Builds the decoder's object queries and self-attention mask (DETR, Conditional DETR: the patch
        embedding is added to the learnt positional queries).

        Args:
            patch_feats (Tensor): pooled backbone features of the query patches, (B, P, C_in).
            query_embed (Tensor): the learnt object queries, (N, D).

        Returns:
            tuple[Tensor, Tensor]:

            - query_pos: (B, Q, D) with Q = N in training, Q = the queries of the first P groups at inference.
            - self_attn_mask: (Q, Q) bool, ``True`` = may not attend (block-diagonal over the groups).
        """
        patch_embed, query_index, self_attn_mask = self.encode(patch_feats, query_embed.size(0))
        return query_embed[query_index][None] + patch_embed, self_attn_mask

    def encode(self, patch_feats: Tensor, num_queries: int) -> Tuple[Tensor, Tensor, Tensor]:
        """The patch embedding of every decoded query, which object query it is, and the group mask.

        For detectors whose object queries are not a single (N, D) positional embedding (Deformable DETR's
        (positional, content) pairs, DAB-DETR's anchors, DINO's content queries): the detector adds
        ``patch_embed`` to its content (or positional) query and takes row ``query_index[q]`` of its learnt
        queries for query ``q``.

        Args:
            patch_feats (Tensor): pooled backbone features of the query patches, (B, P, C_in).
            num_queries (int): N, the detector's number of object queries.

        Returns:
            tuple[Tensor, Tensor, Tensor]:

            - patch_embed: (B, Q, D) ``keep * patch2query(patch_feats[b, group(q)])``, Q = N in training, the
              queries of the first P groups at inference.
            - query_index: (Q,) long, the object query decoded at position q (a random permutation of the N
              queries in training with ``query_shuffle``, else ``arange(Q)``).
            - self_attn_mask: (Q, Q) bool, ``True`` = may not attend (block-diagonal over the groups).
        """
        batch_size, num_given, channels = patch_feats.shape
        device = patch_feats.device
        if channels != self.in_channels:
            raise ValueError(f'patch features have {channels} channels but {type(self).__name__} was built with '
                             f'in_channels={self.in_channels} (set it to the backbone output channels)')
        if self.training and num_given != self.num_patches:
            raise ValueError(f'training needs exactly num_patches={self.num_patches} query patches per image, '
                             f'got {num_given}')
        if not 1 <= num_given <= self.num_patches:
            raise ValueError(f'got {num_given} query patches per image; 1 to num_patches={self.num_patches} '
                             f'are supported')
        group_ids = query_group_ids(num_queries, self.num_patches, device=device)
        group_ids = group_ids[group_ids < num_given]
        num_used = group_ids.numel()

        if self.training and self.query_shuffle:
            query_index = torch.randperm(num_queries, device=device)[:num_used]
        else:
            query_index = torch.arange(num_used, device=device)

        patch_embed = self.patch2query(patch_feats)[:, group_ids]  # (B, Q, D)
        if self.training and self.mask_ratio > 0:
            keep = torch.rand(batch_size, num_used, 1, device=patch_embed.device) >= self.mask_ratio
            patch_embed = patch_embed * keep.to(patch_embed.dtype)
        return patch_embed, query_index, group_self_attn_mask(group_ids)
