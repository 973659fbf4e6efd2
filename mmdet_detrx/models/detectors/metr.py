"""METR: a Deformable-DETR detector with language-embedded, class-specific queries for multi-dataset training."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.detectors import DeformableDETR
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import OptConfigType
from ...datasets.multi_label_space import LABEL_SPACE_KEY, label_space_of
from ..gt_checks import check_gt_instances
from ...utils.class_embeddings import load_class_embeddings, read_class_embedding_file
from ..layers.metr_layers import category_targets, select_categories_test, select_categories_train



def sample_label_space(data_sample, default: Optional[str] = None) -> str:
    """The ``label_space`` metainfo of a data sample (see ``datasets/multi_label_space.py``).

    Args:
        data_sample: A DetDataSample.
        default: Returned when the sample carries no ``label_space`` (None: raise).

    Raises:
        KeyError: the sample has no ``label_space`` and there is no default.
    """
    if default is not None and LABEL_SPACE_KEY not in data_sample.metainfo:
        return default
    return label_space_of(data_sample)


@MODELS.register_module()
class METR(DeformableDETR):
    """METR on Deformable DETR: per-image category extraction, then queries bound to the extracted categories.

    Forward (template methods of mmdet's ``DetectionTransformer``):

    1. ``pre_transformer``: as Deformable DETR; the data samples are handed on to the encoder step.
    2. ``forward_encoder``: the deformable encoder, then :class:`METRCategoryExtractor` scores every category
       of each image's OWN label space (``metainfo['label_space']``) from the memory, and ``K =
       num_categories`` categories are selected: training = all gt categories (a random K if more) plus
       negatives of the same label space (``negative_sampling``: ``'hard'`` = highest-scored non-gt
       categories, or ``'random'``); inference = top-K scores.
    3. ``pre_decoder``: :class:`METRQueryGenerator` divides the ``num_queries`` queries among the selected
       categories (content = learned + projected text embedding); reference points from the positional
       part as Deformable DETR.
    4. ``forward_decoder``: Deformable DETR's (``with_box_refine`` optional).
    5. :class:`METRHead`: one binary logit per query, group Hungarian matching (same-category pairs only);
       predictions carry LOCAL labels of the sample's label space.

    Losses: the head's (``loss_cls``, ``loss_bbox``, ``loss_iou``, ``d{i}.*``) plus ``loss_category`` of the
    extractor. Predictions also get ``pred_categories`` (InstanceData ``labels`` (K, ), ``scores`` (K, ))
    with the selected categories and their image-level scores.

    Args:
        label_spaces: ``{name: dict(embeddings='file.pt', classes=None | [names])}`` (or ``{name: 'file.pt'}``);
            ``classes=None`` takes every name of the file in file order. Local id ``i`` of space ``name`` is
            row ``i`` of that list.
        num_categories: K, categories selected per image (at most ``num_queries``).
        category_extractor: Config of :class:`METRCategoryExtractor` (``embed_dims``, ``text_dim`` filled in).
        query_generator: Config of :class:`METRQueryGenerator` (``num_queries``, ``embed_dims``, ``text_dim``
            filled in).
        text_dim: Expected width of the class embeddings (None: the files' width, which must agree).
        negative_sampling: ``'hard'`` or ``'random'`` (training selection).
        default_label_space: Label space of samples WITHOUT a ``label_space`` tag, for single-dataset configs
            that do not use the multi-label-space wrapper (None: such samples are an error).
        *args, **kwargs: As mmdet's ``DeformableDETR`` (``as_two_stage`` must be False).
    """

    def __init__(self,
                 *args,
                 label_spaces: Dict[str, dict],
                 num_categories: int = 10,
                 category_extractor: OptConfigType = None,
                 query_generator: OptConfigType = None,
                 text_dim: Optional[int] = None,
                 negative_sampling: str = 'hard',
                 default_label_space: Optional[str] = None,
                 as_two_stage: bool = False,
                 **kwargs) -> None:
        if as_two_stage:
            raise ValueError('METR builds its queries from the selected categories; as_two_stage must be False')
        if negative_sampling not in ('hard', 'random'):
            raise ValueError(f"negative_sampling must be 'hard' or 'random', got {negative_sampling!r}")
        self.num_categories = int(num_categories)
        self.negative_sampling = negative_sampling
        self._category_extractor_cfg = dict(category_extractor or dict(type='METRCategoryExtractor'))
        self._query_generator_cfg = dict(query_generator or dict(type='METRQueryGenerator'))
        names, bank, text_dim = self._load_label_spaces(label_spaces, text_dim)
        self.text_dim = text_dim
        super().__init__(*args, as_two_stage=False, **kwargs)
        if self.num_categories < 1 or self.num_categories > self.num_queries:
            raise ValueError(f'num_categories must be in [1, num_queries={self.num_queries}], got '
                             f'{self.num_categories}')
        self.label_space_names: List[str] = names
        if default_label_space is not None and default_label_space not in names:
            raise ValueError(f'default_label_space={default_label_space!r} is not one of label_spaces {names}')
        self.default_label_space = default_label_space
        self.label_space_classes: Dict[str, List[str]] = self._label_space_classes
        # the text embeddings come from the files named in the config: not saved in checkpoints
        self.register_buffer('class_embed_bank', bank, persistent=False)
        self.register_buffer('class_counts', torch.tensor([len(self._label_space_classes[n]) for n in names]),
                             persistent=False)

    # ------------------------------------------------------------------ set-up
    def _load_label_spaces(self, label_spaces: Dict[str, dict],
                           text_dim: Optional[int]) -> Tuple[List[str], Tensor, int]:
        """Reads every label space's class embeddings into a padded (S, N_max, T) bank."""
        if not isinstance(label_spaces, dict) or not label_spaces:
            raise ValueError('METR needs label_spaces=dict(name=dict(embeddings=FILE, classes=None | [names]), ...)')
        names, tables = [], []
        self._label_space_classes = {}
        for name, spec in label_spaces.items():
            if isinstance(spec, str):
                spec = dict(embeddings=spec)
            if not isinstance(spec, dict) or 'embeddings' not in spec:
                raise ValueError(f'label_spaces[{name!r}] must be a dict with key "embeddings" (a class-embedding '
                                 f'file), got {spec!r}')
            unknown = set(spec) - {'embeddings', 'classes'}
            if unknown:
                raise ValueError(f'label_spaces[{name!r}] has unknown keys {sorted(unknown)}')
            classes = spec.get('classes')
            if classes is None:
                data = read_class_embedding_file(spec['embeddings'])
                classes, table = list(data['class_names']), data['embeddings']
            else:
                classes = list(classes)
                table = load_class_embeddings(spec['embeddings'], classes)
            if text_dim is None:
                text_dim = int(table.size(1))
            if table.size(1) != text_dim:
                first = names[0] if names else 'text_dim'
                raise ValueError(f'embedding width mismatch: label space {name!r} ({spec["embeddings"]!r}) has '
                                 f'{table.size(1)}-dim class embeddings, {first!r} needs {text_dim}')
            names.append(str(name))
            tables.append(table)
            self._label_space_classes[str(name)] = classes
        max_n = max(len(t) for t in tables)
        bank = torch.zeros(len(tables), max_n, text_dim)
        for i, table in enumerate(tables):
            bank[i, :len(table)] = table
        return names, bank, text_dim

    def _init_layers(self) -> None:
        """Deformable DETR's layers without ``query_embedding`` (the generator has it), plus METR's modules."""
        super()._init_layers()
        del self.query_embedding
        extractor = self._category_extractor_cfg
        for key, value in (('embed_dims', self.embed_dims), ('text_dim', self.text_dim)):
            if extractor.setdefault(key, value) != value:
                raise ValueError(f'category_extractor.{key}={extractor[key]} but the model has {key}={value}')
        generator = self._query_generator_cfg
        for key, value in (('embed_dims', self.embed_dims), ('text_dim', self.text_dim),
                           ('num_queries', self.num_queries)):
            if generator.setdefault(key, value) != value:
                raise ValueError(f'query_generator.{key}={generator[key]} but the model has {key}={value}')
        self.category_extractor = MODELS.build(extractor)
        self.query_generator = MODELS.build(generator)

    # ------------------------------------------------------------------ label spaces of a batch
    def label_space_index(self, batch_data_samples: SampleList) -> Tensor:
        """(B, ) long index into :attr:`label_space_names` of every sample.

        Raises:
            ValueError: a sample's label space is not one of the model's.
        """
        idx = []
        for sample in batch_data_samples:
            name = sample_label_space(sample, self.default_label_space)
            if name not in self.label_space_names:
                raise ValueError(f"data sample (image {sample.metainfo.get('img_path', '?')!r}) has label_space "
                                 f'{name!r}, but the model only knows {self.label_space_names} (model.label_spaces)')
            idx.append(self.label_space_names.index(name))
        return torch.tensor(idx, dtype=torch.long, device=self.class_embed_bank.device)

    def batch_class_embeddings(self, batch_data_samples: SampleList) -> Tuple[Tensor, Tensor]:
        """Class embeddings of each sample's label space.

        Returns:
            tuple[Tensor, Tensor]: ``class_embeds`` (B, N, T) and ``class_valid`` (B, N) bool, N the largest
            label space of the batch.
        """
        space = self.label_space_index(batch_data_samples)
        counts = self.class_counts[space]
        width = int(counts.max())
        class_embeds = self.class_embed_bank[space, :width]
        class_valid = torch.arange(width, device=counts.device)[None] < counts[:, None]
        return class_embeds, class_valid

    def gt_labels(self, batch_data_samples: SampleList, class_valid: Tensor) -> List[Tensor]:
        """LOCAL gt labels per sample, checked against the size of the sample's label space.

        Raises:
            ValueError: a label is outside ``[0, N_space)``.
        """
        labels = []
        for sample, valid in zip(batch_data_samples, class_valid):
            lab = sample.gt_instances.labels.long().to(valid.device)
            n = int(valid.sum())
            if lab.numel() and (int(lab.min()) < 0 or int(lab.max()) >= n):
                bad = sorted({int(v) for v in lab if not 0 <= int(v) < n})
                space = sample_label_space(sample, self.default_label_space)
                raise ValueError(f"data sample (image {sample.metainfo.get('img_path', '?')!r}) of label space "
                                 f'{space!r} has gt labels {bad} outside [0, {n}) (labels must be LOCAL ids of '
                                 "the sample's label space)")
            labels.append(lab)
        return labels

    # ------------------------------------------------------------------ template methods
    def pre_transformer(self, mlvl_feats: Tuple[Tensor], batch_data_samples: OptSampleList = None) -> Tuple[Dict]:
        """Deformable DETR's, plus ``batch_data_samples`` for :meth:`forward_encoder`."""
        if batch_data_samples is None:
            raise ValueError('METR needs the data samples (their label_space) in every forward')
        encoder_inputs_dict, decoder_inputs_dict = super().pre_transformer(mlvl_feats, batch_data_samples)
        encoder_inputs_dict['batch_data_samples'] = batch_data_samples
        return encoder_inputs_dict, decoder_inputs_dict

    def forward_encoder(self, feat: Tensor, feat_mask: Optional[Tensor], feat_pos: Tensor, spatial_shapes: Tensor,
                        level_start_index: Tensor, valid_ratios: Tensor,
                        batch_data_samples: SampleList) -> Dict:
        """The deformable encoder, then category extraction and selection on its memory.

        Returns:
            dict: Deformable DETR's (``memory``, ``memory_mask``, ``spatial_shapes``) plus ``category_logits``
            (B, N), ``class_valid`` (B, N), ``class_embeds`` (B, N, T), ``selected_categories`` (B, K) and
            ``gt_labels`` (training).
        """
        out = super().forward_encoder(feat, feat_mask, feat_pos, spatial_shapes, level_start_index, valid_ratios)
        class_embeds, class_valid = self.batch_class_embeddings(batch_data_samples)
        logits = self.category_extractor(out['memory'], feat_pos, feat_mask, class_embeds, class_valid)
        if self.training:
            gt_labels = self.gt_labels(batch_data_samples, class_valid)
            selected = select_categories_train(logits, class_valid, gt_labels, self.num_categories,
                                               self.negative_sampling)
            out['gt_labels'] = gt_labels
        else:
            selected = select_categories_test(logits, self.num_categories)
        out.update(category_logits=logits, class_valid=class_valid, class_embeds=class_embeds,
                   selected_categories=selected)
        return out

    def pre_decoder(self, memory: Tensor, memory_mask: Optional[Tensor], spatial_shapes: Tensor,
                    category_logits: Tensor, class_valid: Tensor, class_embeds: Tensor, selected_categories: Tensor,
                    gt_labels: Optional[List[Tensor]] = None) -> Tuple[Dict, Dict]:
        """Class-specific queries for the selected categories.

        Returns:
            tuple[dict, dict]: decoder inputs (``query``, ``query_pos``, ``memory``, ``reference_points``) and
            head inputs (``query_labels`` (B, Q), ``category_scores`` (B, N) probabilities, 0 at padding,
            ``selected_categories``; in training also ``category_logits``, ``class_valid``, ``gt_labels``).
        """
        query, query_pos, query_labels = self.query_generator(selected_categories, class_embeds)
        reference_points = self.reference_points_fc(query_pos).sigmoid()
        decoder_inputs_dict = dict(query=query, query_pos=query_pos, memory=memory,
                                   reference_points=reference_points)
        head_inputs_dict = dict(query_labels=query_labels, category_scores=category_logits.sigmoid(),
                                selected_categories=selected_categories)
        if self.training:
            head_inputs_dict.update(category_logits=category_logits, class_valid=class_valid, gt_labels=gt_labels)
        return decoder_inputs_dict, head_inputs_dict

    # ------------------------------------------------------------------ entry points
    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Detection losses of the head plus the extractor's ``loss_category``."""
        check_gt_instances(batch_data_samples)  # labels are local to each sample's label space
        img_feats = self.extract_feat(batch_inputs)
        head_inputs = self.forward_transformer(img_feats, batch_data_samples)
        logits = head_inputs.pop('category_logits')
        class_valid = head_inputs.pop('class_valid')
        targets = category_targets(head_inputs.pop('gt_labels'), class_valid)
        losses = self.bbox_head.loss(**head_inputs, batch_data_samples=batch_data_samples)
        losses['loss_category'] = self.category_extractor.loss(logits, class_valid, targets)
        return losses

    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList, rescale: bool = True) -> SampleList:
        """Detections with LOCAL labels of each sample's label space, plus ``pred_categories``."""
        img_feats = self.extract_feat(batch_inputs)
        head_inputs = self.forward_transformer(img_feats, batch_data_samples)
        results = self.bbox_head.predict(**head_inputs, rescale=rescale, batch_data_samples=batch_data_samples)
        batch_data_samples = self.add_pred_to_datasample(batch_data_samples, results)
        selected, scores = head_inputs['selected_categories'], head_inputs['category_scores']
        for sample, sel, score in zip(batch_data_samples, selected, scores):
            sel = sel[sel >= 0]
            sample.pred_categories = InstanceData(labels=sel, scores=score[sel])
        return batch_data_samples

    def _forward(self, batch_inputs: Tensor, batch_data_samples: OptSampleList = None) -> Tuple[Tensor, Tensor]:
        """Head outputs without post-processing: (L, B, Q, 1) logits and (L, B, Q, 4) boxes."""
        img_feats = self.extract_feat(batch_inputs)
        head_inputs = self.forward_transformer(img_feats, batch_data_samples)
        return self.bbox_head.forward(head_inputs['hidden_states'], head_inputs['references'])

    def class_names(self, label_space: str) -> Sequence[str]:
        """The class names (LOCAL id order) of a label space."""
        if label_space not in self.label_space_classes:
            raise ValueError(f'unknown label space {label_space!r}; the model has {self.label_space_names}')
        return self.label_space_classes[label_space]
