"""METR's language-embedded category extraction and class-specific query generation.

METR (multi-dataset pre-training of DETR-like detectors) binds every decoder query to one category of the
image's own label space. Two modules do that before the decoder:

* :class:`METRCategoryExtractor` scores every category of the image's label space from the encoder memory
  (multi-label, image level): class tokens (projected text embeddings of the class names) cross-attend to
  the memory and each refined token gives one logit.
* :class:`METRQueryGenerator` splits the ``Q`` queries among the ``K`` categories selected for the image
  (:func:`select_categories_train` / :func:`select_categories_test`); a query's content is a learned
  embedding plus the projected text embedding of its category.

Label spaces of different sizes live in one batch as padded tensors: ``class_embeds`` (B, N_max, T) with
``class_valid`` (B, N_max) bool, row ``n`` of image ``b`` being LOCAL category ``n`` of that image's space.
"""
from typing import List, Optional, Sequence, Tuple

import torch
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule, bias_init_with_prob
from torch import Tensor, nn

from mmdet.models.losses import FocalLoss
from mmdet.registry import MODELS
from mmdet.utils import ConfigType

QUERY_DISTRIBUTIONS = ('balanced', 'floor')
NEGATIVE_SAMPLINGS = ('hard', 'random')


@MODELS.register_module()
class METRCategoryExtractor(BaseModule):
    """Multi-label, image-level category scores from the encoder memory and class-name embeddings.

    ``tokens = LayerNorm(Linear(text_dim -> embed_dims)(class_embeds))``; ``num_layers`` times
    ``tokens = norm(tokens + CrossAttn(tokens, memory + pos, memory))``, ``tokens = norm(tokens + FFN(tokens))``
    (no self-attention between class tokens: a category's score must not depend on which other categories
    the label space holds); ``logit = Linear(embed_dims -> 1)(tokens)``.

    Loss: ``loss_cls`` (sigmoid focal loss by default, or ``CrossEntropyLoss(use_sigmoid=True)``) of every
    valid (image, category) entry against "the category has a gt box in the image". Focal loss is averaged
    over the positive entries (as DETR's classification loss), any other loss over all valid entries.

    Args:
        embed_dims: Width of the memory and the class tokens.
        text_dim: Width T of the class-name embeddings.
        num_layers: Cross-attention layers of the class tokens over the memory.
        num_heads: Attention heads.
        feedforward_channels: FFN hidden width.
        dropout: Dropout of attention and FFN.
        loss_cls: Config of the image-level classification loss.
        prior_prob: Initial sigmoid score of every category.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 embed_dims: int,
                 text_dim: int,
                 num_layers: int = 1,
                 num_heads: int = 8,
                 feedforward_channels: int = 1024,
                 dropout: float = 0.0,
                 loss_cls: ConfigType = dict(
                     type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
                 prior_prob: float = 0.1,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError(f'METRCategoryExtractor needs num_layers >= 1, got {num_layers}')
        self.embed_dims = embed_dims
        self.text_dim = text_dim
        self.prior_prob = prior_prob
        self.text_proj = nn.Linear(text_dim, embed_dims)
        self.text_norm = nn.LayerNorm(embed_dims)
        self.cross_attns = nn.ModuleList(
            nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout, batch_first=True)
            for _ in range(num_layers))
        self.ffns = nn.ModuleList(
            FFN(embed_dims=embed_dims, feedforward_channels=feedforward_channels, ffn_drop=dropout)
            for _ in range(num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(embed_dims) for _ in range(2 * num_layers))
        self.fc_logit = nn.Linear(embed_dims, 1)
        self.loss_cls = MODELS.build(loss_cls)

    def init_weights(self) -> None:
        """Xavier-initialises the projections and sets the logit bias to ``prior_prob``."""
        super().init_weights()
        nn.init.xavier_uniform_(self.text_proj.weight)
        nn.init.zeros_(self.text_proj.bias)
        nn.init.normal_(self.fc_logit.weight, std=0.01)
        nn.init.constant_(self.fc_logit.bias, bias_init_with_prob(self.prior_prob))

    def forward(self, memory: Tensor, memory_pos: Optional[Tensor], memory_mask: Optional[Tensor],
                class_embeds: Tensor, class_valid: Tensor) -> Tensor:
        """Scores every category of every image.

        Args:
            memory: (B, N, C) encoder output.
            memory_pos: (B, N, C) positional embedding of the memory, or None.
            memory_mask: (B, N) bool, True at padding, or None.
            class_embeds: (B, N_max, T) class-name embeddings of each image's label space (padded).
            class_valid: (B, N_max) bool, False at padding rows.

        Returns:
            Tensor: (B, N_max) logits; padding rows hold ``-inf``.
        """
        if class_embeds.size(-1) != self.text_dim:
            raise ValueError(f'METRCategoryExtractor expects {self.text_dim}-dim class embeddings, got '
                             f'{class_embeds.size(-1)}')
        tokens = self.text_norm(self.text_proj(class_embeds))
        key = memory if memory_pos is None else memory + memory_pos
        for i, (attn, ffn) in enumerate(zip(self.cross_attns, self.ffns)):
            out = attn(tokens, key, memory, key_padding_mask=memory_mask, need_weights=False)[0]
            tokens = self.norms[2 * i](tokens + out)
            tokens = self.norms[2 * i + 1](ffn(tokens))  # mmcv's FFN adds its input (residual)
        logits = self.fc_logit(tokens).squeeze(-1)
        return logits.masked_fill(~class_valid, float('-inf'))

    def loss(self, logits: Tensor, class_valid: Tensor, targets: Tensor) -> Tensor:
        """Image-level classification loss.

        Args:
            logits: (B, N_max) from :meth:`forward`.
            class_valid: (B, N_max) bool.
            targets: (B, N_max) bool, True where the category has a gt in the image.

        Returns:
            Tensor: scalar loss.
        """
        pred = logits[class_valid].unsqueeze(1)
        target = targets[class_valid].to(pred.dtype).unsqueeze(1)
        if isinstance(self.loss_cls, FocalLoss):
            avg_factor = max(float(target.sum()), 1.0)
        else:
            avg_factor = float(max(pred.numel(), 1))
        return self.loss_cls(pred, target, avg_factor=avg_factor)


@MODELS.register_module()
class METRQueryGenerator(BaseModule):
    """Class-specific decoder queries: ``Q`` queries split among the categories selected for each image.

    Per image with ``k`` selected categories (in selection order, best first), the queries are given to the
    categories in contiguous blocks (:func:`query_slots`):

    * ``distribute='balanced'``: every query is bound; block sizes differ by at most 1 (the first
      ``Q mod k`` categories get one more).
    * ``distribute='floor'``: each category gets ``Q // k`` queries; the last ``Q mod k`` queries are
      unbound (label -1: always background, never matched).

    Query ``q`` bound to category ``c``: ``content = query_embedding[q, C:] + LayerNorm(Linear(text(c)))``,
    ``pos = query_embedding[q, :C]`` (the split of mmdet's ``DeformableDETR.query_embedding``); an unbound
    query's content is the learned part alone.

    Args:
        num_queries: Q.
        embed_dims: C.
        text_dim: Width T of the class-name embeddings.
        distribute: ``'balanced'`` or ``'floor'``.
        init_cfg: mmengine init config.
    """

    def __init__(self, num_queries: int, embed_dims: int, text_dim: int, distribute: str = 'balanced',
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if distribute not in QUERY_DISTRIBUTIONS:
            raise ValueError(f'distribute must be one of {QUERY_DISTRIBUTIONS}, got {distribute!r}')
        self.num_queries = num_queries
        self.embed_dims = embed_dims
        self.text_dim = text_dim
        self.distribute = distribute
        self.query_embedding = nn.Embedding(num_queries, 2 * embed_dims)
        self.text_proj = nn.Linear(text_dim, embed_dims)
        self.text_norm = nn.LayerNorm(embed_dims)

    def init_weights(self) -> None:
        """Xavier init of the text projection."""
        super().init_weights()
        nn.init.xavier_uniform_(self.text_proj.weight)
        nn.init.zeros_(self.text_proj.bias)

    def forward(self, selected: Tensor, class_embeds: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Builds the queries.

        Args:
            selected: (B, K) long, LOCAL category ids per image in selection order, -1 padding at the end.
            class_embeds: (B, N_max, T) class-name embeddings of each image's label space.

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``query`` (B, Q, C), ``query_pos`` (B, Q, C) and
            ``query_labels`` (B, Q) long LOCAL category per query, -1 for unbound.
        """
        batch_size = selected.size(0)
        labels = selected.new_full((batch_size, self.num_queries), -1)
        for b in range(batch_size):
            cats = selected[b][selected[b] >= 0]
            slots = query_slots(self.num_queries, len(cats), self.distribute).to(selected.device)
            bound = slots >= 0
            labels[b, bound] = cats[slots[bound]]
        text = self.text_norm(self.text_proj(class_embeds))  # (B, N_max, C)
        gathered = torch.gather(text, 1, labels.clamp(min=0).unsqueeze(-1).expand(-1, -1, self.embed_dims))
        gathered = gathered * (labels >= 0).unsqueeze(-1).to(gathered.dtype)
        query_pos, query_content = torch.split(self.query_embedding.weight, self.embed_dims, dim=1)
        query = query_content.unsqueeze(0) + gathered
        query_pos = query_pos.unsqueeze(0).expand(batch_size, -1, -1)
        return query, query_pos, labels


def query_slots(num_queries: int, num_categories: int, distribute: str = 'balanced') -> Tensor:
    """Which selected category each query slot belongs to.

    Args:
        num_queries: Q.
        num_categories: k, the number of categories selected for the image.
        distribute: ``'balanced'`` (block sizes differ by at most 1, all bound) or ``'floor'`` (``Q // k``
            each, the rest unbound).

    Returns:
        Tensor: (Q, ) long, index into the selected categories, or -1 for an unbound query.

    Raises:
        ValueError: more categories than queries, or an unknown ``distribute``.
    """
    if distribute not in QUERY_DISTRIBUTIONS:
        raise ValueError(f'distribute must be one of {QUERY_DISTRIBUTIONS}, got {distribute!r}')
    if num_categories == 0:
        return torch.full((num_queries, ), -1, dtype=torch.long)
    if num_categories > num_queries:
        raise ValueError(f'{num_categories} categories selected for {num_queries} queries; every category '
                         'needs at least one query (lower num_categories)')
    base, extra = divmod(num_queries, num_categories)
    if distribute == 'balanced':
        sizes = [base + (1 if j < extra else 0) for j in range(num_categories)]
    else:
        sizes = [base] * num_categories
    slots = torch.repeat_interleave(torch.arange(num_categories), torch.tensor(sizes))
    return torch.cat([slots, slots.new_full((num_queries - len(slots), ), -1)])


def select_categories_test(logits: Tensor, num_categories: int) -> Tensor:
    """Inference selection: the top-``K`` scored categories of each image's own label space.

    Args:
        logits: (B, N_max) category logits, ``-inf`` at padding rows.
        num_categories: K.

    Returns:
        Tensor: (B, K) long LOCAL ids sorted by score (best first), -1 where the label space has fewer
        than K categories.
    """
    k = min(num_categories, logits.size(1))
    scores, idx = logits.topk(k, dim=1)
    idx = idx.masked_fill(torch.isinf(scores) & (scores < 0), -1)
    return _pad_columns(idx, num_categories)


def select_categories_train(logits: Tensor, class_valid: Tensor, gt_labels: Sequence[Tensor], num_categories: int,
                            negatives: str = 'hard', generator: Optional[torch.Generator] = None) -> Tensor:
    """Training selection: all gt categories of the image plus negatives from its OWN label space.

    Per image: the distinct gt categories (a random ``K`` of them if there are more than ``K``), then
    ``min(K, N_space) - #gt`` negative categories of the image's label space, either the highest-scored
    ones (``'hard'``: the categories the extractor confuses most, so the decoder learns to reject them)
    or uniformly random ones (``'random'``). The gt categories come first in score order, then the
    negatives; the order only decides which query block a category gets.

    Args:
        logits: (B, N_max) category logits (detached inside), ``-inf`` at padding.
        class_valid: (B, N_max) bool.
        gt_labels: per image, (G_i, ) LOCAL gt labels.
        num_categories: K.
        negatives: ``'hard'`` or ``'random'``.
        generator: Random generator for the subsets (None: torch's global one).

    Returns:
        Tensor: (B, K) long LOCAL ids, -1 padding where the label space has fewer than K categories.
    """
    if negatives not in NEGATIVE_SAMPLINGS:
        raise ValueError(f'negatives must be one of {NEGATIVE_SAMPLINGS}, got {negatives!r}')
    logits = logits.detach()
    rows: List[Tensor] = []
    for b, labels in enumerate(gt_labels):
        num_space = int(class_valid[b].sum())
        k = min(num_categories, num_space)
        gts = torch.unique(labels.long().to(logits.device))
        if len(gts) > k:
            gts = gts[torch.randperm(len(gts), generator=generator)[:k].to(gts.device)]
        gts = gts[logits[b, gts].argsort(descending=True)]
        candidates = class_valid[b].clone()
        candidates[gts] = False
        num_neg = k - len(gts)
        neg_pool = torch.nonzero(candidates, as_tuple=True)[0]
        if negatives == 'hard':
            negs = neg_pool[logits[b, neg_pool].argsort(descending=True)[:num_neg]]
        else:
            negs = neg_pool[torch.randperm(len(neg_pool), generator=generator)[:num_neg].to(neg_pool.device)]
        rows.append(torch.cat([gts, negs]))
    out = logits.new_full((len(rows), num_categories), -1, dtype=torch.long)
    for b, row in enumerate(rows):
        out[b, :len(row)] = row
    return out


def _pad_columns(idx: Tensor, width: int) -> Tensor:
    """Pads (B, k) with -1 columns to (B, width)."""
    if idx.size(1) >= width:
        return idx
    return torch.cat([idx, idx.new_full((idx.size(0), width - idx.size(1)), -1)], dim=1)


def category_targets(gt_labels: Sequence[Tensor], class_valid: Tensor) -> Tensor:
    """(B, N_max) bool: True where the image has a gt of the category (the extractor's targets)."""
    targets = torch.zeros_like(class_valid)
    for b, labels in enumerate(gt_labels):
        if len(labels):
            targets[b, labels.long().to(targets.device)] = True
    return targets & class_valid


__all__ = [
    'METRCategoryExtractor', 'METRQueryGenerator', 'query_slots', 'select_categories_train',
    'select_categories_test', 'category_targets'
]
