"""Co-DETR: `DETRs with Collaborative Hybrid Assignments Training <https://arxiv.org/abs/2211.12860>`_.

:class:`DetrxCoDETR` wraps a query-based *base detector* given by config (mmdet's ``DINO``,
``DeformableDETR``, ``DABDETR``, ``DETR`` or our ``CondDETR``, ``ModularDETR``; any detector with a registered
:class:`~mmdet_detrx.models.detectors.co_query_decoders.CoQueryDecoder`) and adds, for training only:

1. auxiliary one-to-many heads (ATSS, FCOS, RPN + RoI head, any subset) trained on the encoder memory
   reshaped to feature maps plus an extra downsampled level (:class:`DetrxCoMemoryNeck`);
2. customized positive queries: the positives each auxiliary head assigned become an extra query group
   (:class:`DetrxCoPositiveQueryGenerator`), decoded by the base's shared decoder in one extra pass per head
   and trained with the auxiliary assignment as fixed targets (no Hungarian matching), padding masked.

At test time the detector is the base detector (same cost) unless ``test_cfg.eval_module`` selects
``'one-stage'`` (a dense auxiliary head) or ``'two-stage'`` (RPN + an RoI head) on the encoder features.

Loss weights: every auxiliary-head loss is multiplied by ``aux_head_loss_weight`` and every decoder layer's
loss of the positive queries by ``aux_query_loss_weight``. The paper sums the auxiliary-head loss inside
the sum over decoder layers with weight 2, so the released configs use ``aux_head_loss_weight =
num_decoder_layers * 2 = 12`` and ``aux_query_loss_weight = 1``.

Bases: the base's :class:`~mmdet_detrx.models.detectors.co_query_decoders.CoQueryDecoder` says how wide a
positive query is and runs the base's decoder over a query group (co_query_decoders.py documents each base's
design); its head trains the group with fixed targets (:class:`CoQueryHeadMixin`'s ``loss_aux_queries``, or
``loss_by_targets`` like ``CondDETRHead``'s). Single-level encoders (DETR, Conditional DETR, DAB-DETR) get a
pyramid from :class:`DetrxCoMemoryNeck` with ``num_upsample_levels``. A new base joins by registering a
``CoQueryDecoder``; this class is not edited.
"""
import copy
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmengine.model import ModuleList
from mmengine.structures import InstanceData
from torch import Tensor, nn

from mmdet.models.detectors.base import BaseDetector
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, InstanceList, OptConfigType, OptMultiConfig

from ..dense_heads.conditional_detr_head import LayerTargets
from ..autocast import float32_scope, to_float32
from ..layers.co_detr_layers import CoQueryGroup
from ..layers.deform_attn_cpu import shared_value_projection, use_cpu_deformable_attn
from ..gt_checks import check_gt_instances
from ...utils.converters.co_detr import convert_co_dino_reference_keys, lift_base_checkpoint
from .co_query_decoders import co_query_decoder_for

LossDict = Dict[str, Union[Tensor, List[Tensor]]]
EVAL_MODULES = ('detr', 'one-stage', 'two-stage')


def _scale_losses(losses: LossDict, weight: float, prefix: str = '') -> LossDict:
    """Prefixes every key; multiplies the entries whose name contains 'loss' (tensors or lists) by weight."""
    out = dict()
    for name, value in losses.items():
        if 'loss' in name and weight != 1.0:
            value = [v * weight for v in value] if isinstance(value, (list, tuple)) else value * weight
        out[prefix + name] = value
    return out


def group_layer_targets(group: CoQueryGroup, num_layers: int, num_classes: int) -> LayerTargets:
    """A positive query group's fixed targets as :class:`LayerTargets` of every decoder layer.

    For heads with layer-batched fixed-target losses (``CondDETRHead.loss_by_targets``): every layer gets the
    group's assignment; padding has zero classification and box weight and counts as neither positive nor
    negative.

    Args:
        group: The query group, (bs, n) queries.
        num_layers: Decoder layers L.
        num_classes: Number of classes (the background label).

    Returns:
        Targets of shape (L, bs, n) (boxes (L, bs, n, 4)); ``num_pos`` / ``num_neg`` are (L, ).
    """
    valid = group.valid
    pos = valid & (group.labels >= 0) & (group.labels < num_classes)
    neg = valid & ~pos

    def per_layer(t: Tensor) -> Tensor:
        return t[None].expand(num_layers, *t.shape)

    weights = valid.to(group.bbox_targets.dtype)
    return LayerTargets(
        labels=per_layer(group.labels),
        label_weights=per_layer(weights),
        bbox_targets=per_layer(group.bbox_targets),
        bbox_weights=per_layer(pos.to(weights.dtype)[..., None].expand(*pos.shape, 4)),
        num_pos=pos.sum().expand(num_layers),
        num_neg=neg.sum().expand(num_layers))


def cpu_deformable_attention_wanted(cpu_deformable_attention: bool = True,
                                   cpu_level_sum_attention: Optional[bool] = None) -> bool:
    """Whether a Co-DETR config switches its base to our CPU deformable attention: ``cpu_deformable_attention``,
    unless the former key ``cpu_level_sum_attention`` is given (then it wins, with a DeprecationWarning)."""
    if cpu_level_sum_attention is None:
        return cpu_deformable_attention
    warnings.warn('DetrxCoDETR: `cpu_level_sum_attention` is deprecated, use `cpu_deformable_attention` '
                  '(same meaning)', DeprecationWarning)
    return cpu_level_sum_attention


@MODELS.register_module()
class DetrxCoDETR(BaseDetector):
    """Co-DETR around a query-based base detector.

    Args:
        query_head: Config of the base detector (e.g. mmdet's ``DINO`` with ``bbox_head`` of type
            ``DetrxCoDINOHead``, ``DeformableDETR`` with ``DetrxCoDeformableDETRHead``, or our ``CondDETR``
            with ``CondDETRHead``), with its own ``train_cfg`` / ``test_cfg``. Its backbone and neck may be
            given here or below; they are built once and kept at the top level (``backbone.*``, ``neck.*``).
        backbone: Backbone config; overrides ``query_head.backbone``.
        neck: Neck config; overrides ``query_head.neck``.
        rpn_head: Auxiliary RPN (required by ``roi_head``), e.g. mmdet's ``RPNHead`` with its ``train_cfg``
            (assigner, sampler) and ``test_cfg`` (proposals at test time).
        roi_head: Auxiliary RoI heads (``DetrxCoStandardRoIHead``) with their ``train_cfg`` / ``test_cfg``.
        bbox_head: Auxiliary dense heads (``DetrxCoATSSHead``, ``DetrxCoFCOSHead``) with their configs.
        memory_neck: Config of the memory-to-feature-maps neck (``embed_dims`` is filled in).
        query_generator: Config of the positive query generator (``embed_dims``, ``num_groups`` and
            ``out_channels`` are filled in from the base).
        with_pos_queries: Whether the auxiliary heads' positives become extra decoder queries.
        aux_head_loss_weight: Multiplier of every auxiliary head loss.
        aux_query_loss_weight: Multiplier of every decoder layer's positive-query loss.
        num_classes: If given, the number of classes of the base detector's head, every auxiliary dense head
            and every RoI head's ``bbox_head`` (so a config for another dataset changes one number).
        cpu_deformable_attention: Switch the base's mmcv ``MultiScaleDeformableAttention`` modules to
            :class:`~mmdet_detrx.models.layers.deform_attn_cpu.DetrxMSDeformAttn`: same parameters and
            function; on CPU it runs our C++ kernel (:mod:`mmdet_detrx.ops.ms_deform_attn`, ~3x faster
            attention forward + backward than mmcv's ``grid_sample`` fallback), on a GPU mmcv's kernel.
            Defaults to True.
        cpu_level_sum_attention: The former name of ``cpu_deformable_attention`` (from when the CPU path summed
            ``grid_sample`` level by level); still accepted, with a deprecation warning, and then wins.
        train_cfg: ``rpn_proposal``: proposal config of the auxiliary RPN during training (defaults to the
            RPN's ``test_cfg``).
        test_cfg: ``eval_module`` in ('detr', 'one-stage', 'two-stage'), default 'detr' (the base detector
            alone); ``eval_index``: which auxiliary head evaluates, default 0.
        data_preprocessor: Data preprocessor config; defaults to the base's.
        init_cfg: Initialization config.
    """

    def __init__(self,
                 query_head: ConfigType,
                 backbone: OptConfigType = None,
                 neck: OptConfigType = None,
                 rpn_head: OptConfigType = None,
                 roi_head: Optional[Sequence[ConfigType]] = None,
                 bbox_head: Optional[Sequence[ConfigType]] = None,
                 memory_neck: ConfigType = dict(type='DetrxCoMemoryNeck'),
                 query_generator: ConfigType = dict(type='DetrxCoPositiveQueryGenerator'),
                 with_pos_queries: bool = True,
                 aux_head_loss_weight: float = 1.0,
                 aux_query_loss_weight: float = 1.0,
                 num_classes: Optional[int] = None,
                 cpu_deformable_attention: bool = True,
                 cpu_level_sum_attention: Optional[bool] = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        query_head = ConfigDict(copy.deepcopy(query_head))
        roi_head = [ConfigDict(copy.deepcopy(cfg)) for cfg in roi_head or []]
        bbox_head = [ConfigDict(copy.deepcopy(cfg)) for cfg in bbox_head or []]
        if num_classes is not None:
            # one label space for every head: a config for another dataset changes one number
            for head_cfg in [query_head.bbox_head, *bbox_head, *[cfg.bbox_head for cfg in roi_head]]:
                head_cfg['num_classes'] = num_classes
        if data_preprocessor is None:
            data_preprocessor = query_head.get('data_preprocessor', None)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if backbone is not None:
            query_head['backbone'] = backbone
        if neck is not None:
            query_head['neck'] = neck
        query_head.pop('data_preprocessor', None)
        base = MODELS.build(query_head)
        query_decoder = co_query_decoder_for(base)
        if query_decoder is None:
            raise NotImplementedError(
                f'{type(base).__name__} is not a Co-DETR base: register a CoQueryDecoder for it '
                '(mmdet_detrx/models/detectors/co_query_decoders.py)')

        # Hoist backbone and neck: built once, owned by this detector, not run by the base.
        self.backbone = base.backbone
        del base.backbone
        if getattr(base, 'neck', None) is not None:
            self.neck = base.neck
            del base.neck
        # named `query_head` as in mmdet's projects/CO-DETR, whose checkpoints' keys start with it
        self.query_head = base
        self.query_decoder = query_decoder
        self.embed_dims = base.embed_dims
        self.train_cfg = ConfigDict(train_cfg or dict())
        self.test_cfg = ConfigDict(test_cfg or dict())
        assert self.test_cfg.get('eval_module', 'detr') in EVAL_MODULES, \
            f'test_cfg.eval_module must be one of {EVAL_MODULES}'

        assert rpn_head is not None or not roi_head, 'roi_head needs an rpn_head for its proposals'
        if rpn_head is not None:
            self.rpn_head = MODELS.build(ConfigDict(rpn_head))
        self.roi_head = ModuleList([MODELS.build(cfg) for cfg in roi_head])
        self.bbox_head = ModuleList([MODELS.build(cfg) for cfg in bbox_head])
        self.aux_head_loss_weight = aux_head_loss_weight
        self.aux_query_loss_weight = aux_query_loss_weight

        if self.with_aux_heads:
            memory_neck = copy.deepcopy(memory_neck)
            memory_neck.setdefault('embed_dims', self.embed_dims)
            self.memory_neck = MODELS.build(memory_neck)
        num_groups = len(self.roi_head) + len(self.bbox_head)
        self.with_pos_queries = with_pos_queries and num_groups > 0
        if self.with_pos_queries:
            generator = copy.deepcopy(query_generator)
            generator.setdefault('embed_dims', self.embed_dims)
            generator.setdefault('num_groups', num_groups)
            generator.setdefault('out_channels', self.query_decoder.query_channels(base))
            self.query_generator = MODELS.build(generator)
            if not (hasattr(base.bbox_head, 'loss_aux_queries') or hasattr(base.bbox_head, 'loss_by_targets')):
                raise TypeError(
                    f'{type(base.bbox_head).__name__} cannot train extra query groups: use a head with '
                    'CoQueryHeadMixin (DetrxCoDINOHead, DetrxCoDeformableDETRHead, DetrxCoDABDETRHead, '
                    'DetrxCoDETRHead) or with fixed-target losses `loss_by_targets` (CondDETRHead)')

        if cpu_deformable_attention_wanted(cpu_deformable_attention, cpu_level_sum_attention):
            # same function and parameters; on CPU our C++ kernel instead of mmcv's grid_sample fallback
            use_cpu_deformable_attn(self.base_detector)

        # Released checkpoints of mmdet's projects/CO-DETR Co-DINO load as they are.
        self.register_load_state_dict_pre_hook(self._convert_reference_checkpoint)

    # ------------------------------------------------------------------ structure
    def _convert_reference_checkpoint(self, module, state_dict, prefix, *args) -> None:
        """Load-state-dict pre-hook: released Co-DINO checkpoints, and checkpoints of the base detector alone
        (a fine-tuned DINO, a converted UP-DETR / METR pre-training), load into this model."""
        if convert_co_dino_reference_keys(state_dict, prefix):
            return
        moved = lift_base_checkpoint(state_dict, prefix)
        if moved:
            print_log(f'{type(self).__name__}: the checkpoint is a {type(self.base_detector).__name__} without '
                      f'Co-DETR parts; {moved} tensors loaded into query_head (backbone and neck shared), the '
                      'auxiliary heads keep their initialisation', logger='current')

    @property
    def with_rpn(self) -> bool:
        return getattr(self, 'rpn_head', None) is not None

    @property
    def with_aux_heads(self) -> bool:
        return self.with_rpn or len(self.roi_head) > 0 or len(self.bbox_head) > 0

    def extract_feat(self, batch_inputs: Tensor) -> Tuple[Tensor]:
        """Backbone (+ neck) features, each (bs, C, h, w)."""
        x = self.backbone(batch_inputs)
        if self.with_neck:
            x = self.neck(x)
        return x

    @property
    def base_detector(self) -> nn.Module:
        """The wrapped base detector (DINO, Deformable DETR, CondDETR, ...), stored as ``query_head``: the key
        prefix of its parameters in mmdet's projects/CO-DETR checkpoints and in ours."""
        return self.query_head

    # ------------------------------------------------------------------ base detector passes
    def run_base(self, img_feats: Tuple[Tensor], batch_data_samples: SampleList) -> Tuple[Dict, Dict, Dict, Dict]:
        """The base detector's forward_transformer, keeping the intermediate dicts.

        Returns:
            ``(encoder_inputs, encoder_outputs, decoder_inputs, head_inputs)`` as the base's template
            methods produce them.
        """
        base = self.base_detector
        encoder_inputs, decoder_inputs = base.pre_transformer(img_feats, batch_data_samples)
        encoder_outputs = base.forward_encoder(**encoder_inputs)
        tmp_dec_in, head_inputs = self.query_decoder.pre_decoder(base, encoder_outputs, batch_data_samples)
        decoder_inputs.update(tmp_dec_in)
        head_inputs.update(base.forward_decoder(**decoder_inputs))
        return encoder_inputs, encoder_outputs, decoder_inputs, head_inputs

    def memory_feature_maps(self, img_feats: Tuple[Tensor], encoder_inputs: Dict,
                            encoder_outputs: Dict) -> Tuple[Tensor, ...]:
        """Encoder memory as feature maps (+ extra levels) for the auxiliary heads: (B, C, H_l, W_l) per level."""
        spatial_shapes = encoder_outputs.get('spatial_shapes', encoder_inputs.get('spatial_shapes'))
        if spatial_shapes is None:  # single-level DETR-style encoders
            spatial_shapes = [img_feats[-1].shape[-2:]]
        return self.memory_neck(encoder_outputs['memory'], spatial_shapes)

    # ------------------------------------------------------------------ training
    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> LossDict:
        """Base detector loss + auxiliary head losses + positive query losses.

        Args:
            batch_inputs: Images, (bs, 3, H, W).
            batch_data_samples: Data samples with ``gt_instances``.

        Returns:
            The base's losses (unprefixed), ``loss_rpn_*``, ``aux{k}.*`` for the k-th positive-producing
            auxiliary head (RoI heads first, then dense heads) and ``aux{k}.q.*`` for its query group.
        """
        check_gt_instances(batch_data_samples, self.base_detector.bbox_head.num_classes)
        # the decoder passes over the same memory (base queries, every positive query group) share each
        # cross-attention's value projection (DetrxMSDeformAttn on CPU; same function and gradients)
        with shared_value_projection(self.base_detector):
            return self._loss(batch_inputs, batch_data_samples)

    def _loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> LossDict:
        """:meth:`loss` without the shared value projections."""
        img_feats = self.extract_feat(batch_inputs)
        encoder_inputs, encoder_outputs, decoder_inputs, head_inputs = self.run_base(
            img_feats, batch_data_samples)
        losses = self.base_detector.bbox_head.loss(**head_inputs, batch_data_samples=batch_data_samples)
        if not self.with_aux_heads:
            return losses
        feats = self.memory_feature_maps(img_feats, encoder_inputs, encoder_outputs)
        aux_losses, positives = self.aux_heads_loss(feats, batch_data_samples)
        losses.update(aux_losses)
        if self.with_pos_queries:
            batch_img_metas = [s.metainfo for s in batch_data_samples]
            for k, group_positives in enumerate(positives):
                losses.update(self._query_group_loss(k, group_positives, decoder_inputs, feats, batch_img_metas))
        return losses

    @staticmethod
    def _dense_head_loss(head, feats: Tuple[Tensor], batch_gt_instances: InstanceList,
                         batch_gt_instances_ignore: list, batch_img_metas: List[dict],
                         proposal_cfg: OptConfigType = None) -> Tuple[LossDict, Optional[InstanceList]]:
        """A dense head's forward (under autocast if enabled), then its loss (and proposals) in float32."""
        outs = to_float32(head(feats))
        with float32_scope(outs):
            losses = head.loss_by_feat(*outs, batch_gt_instances, batch_img_metas, batch_gt_instances_ignore)
            proposals = None
            if proposal_cfg is not None:
                proposals = head.predict_by_feat(*outs, batch_img_metas=batch_img_metas, cfg=proposal_cfg)
        return losses, proposals

    def aux_heads_loss(self, feats: Tuple[Tensor],
                       batch_data_samples: SampleList) -> Tuple[LossDict, List[List[InstanceData]]]:
        """Losses of the auxiliary heads and, per positive-producing head, its per-image positives (the boxes
        that become positive query groups: ``bboxes`` (P, 4) and their assigned ``labels`` / gt targets)."""
        batch_gt_instances, batch_gt_instances_ignore, batch_img_metas = unpack_gt_instances(batch_data_samples)
        losses, positives = dict(), []
        weight = self.aux_head_loss_weight
        proposals = None
        if self.with_rpn:
            # class-agnostic RPN targets
            rpn_gt = [InstanceData(bboxes=g.bboxes, labels=torch.zeros_like(g.labels)) for g in batch_gt_instances]
            proposal_cfg = self.train_cfg.get('rpn_proposal', self.rpn_head.test_cfg)
            rpn_losses, proposals = self._dense_head_loss(
                self.rpn_head, feats, rpn_gt, batch_gt_instances_ignore, batch_img_metas, proposal_cfg)
            losses.update(_scale_losses(rpn_losses, weight))
        k = 0
        for roi_head in self.roi_head:
            # the RoI head renames the proposals' fields in place: give each head its own copy
            roi_losses = roi_head.loss(feats, [p.clone() for p in proposals], batch_data_samples)
            positives.append(roi_head.pop_positives())
            losses.update(_scale_losses(roi_losses, weight, f'aux{k}.'))
            k += 1
        for head in self.bbox_head:
            head_losses, _ = self._dense_head_loss(
                head, feats, batch_gt_instances, batch_gt_instances_ignore, batch_img_metas)
            positives.append(head.pop_positives())
            losses.update(_scale_losses(head_losses, weight, f'aux{k}.'))
            k += 1
        return losses, positives

    def _query_group_loss(self, group_idx: int, positives: List[InstanceData], decoder_inputs: Dict,
                          feats: Tuple[Tensor, ...], batch_img_metas: List[dict]) -> LossDict:
        """Decodes one auxiliary head's positives (read from the auxiliary feature maps ``feats``) as a query group
        and returns its loss."""
        head = self.base_detector.bbox_head
        group = self.query_generator.pack(positives, batch_img_metas, head.num_classes)
        query = self.query_generator(group.boxes, group_idx, feats, batch_img_metas)
        decoder_outputs = self.decode_query_group(group, query, decoder_inputs)
        all_cls_scores, all_bbox_preds = head(**decoder_outputs)
        if hasattr(head, 'loss_aux_queries'):
            group_losses = head.loss_aux_queries(all_cls_scores, all_bbox_preds, group, batch_img_metas)
        else:
            all_cls_scores, all_bbox_preds = to_float32((all_cls_scores, all_bbox_preds))
            targets = group_layer_targets(group, all_cls_scores.size(0), head.num_classes)
            with float32_scope(all_cls_scores):
                group_losses = head.layer_losses_to_dict(
                    *head.loss_by_targets(all_cls_scores, all_bbox_preds, targets, batch_img_metas))
        return _scale_losses(group_losses, self.aux_query_loss_weight, f'aux{group_idx}.q.')

    def decode_query_group(self, group: CoQueryGroup, query: Tensor, decoder_inputs: Dict) -> Dict:
        """One extra pass of the base's shared decoder over a customized positive query group.

        Args:
            group: The group; ``group.boxes`` (bs, n, 4) are the initial reference boxes.
            query: Output of the query generator, (bs, n, C) or (bs, n, 2C) (positional, content).
            decoder_inputs: The base's decoder inputs of the main pass (memory, masks, level layout).

        Returns:
            ``hidden_states`` (num_layers, bs, n, C) and ``references`` as the base head's forward takes
            (Conditional DETR: the box centres, (bs, n, 2)).
        """
        base = self.base_detector
        attn_mask = group.self_attn_mask(base.decoder.layers[0].self_attn.num_heads)
        return self.query_decoder.decode(base, group, query, attn_mask, decoder_inputs)

    # ------------------------------------------------------------------ inference
    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList, rescale: bool = True) -> SampleList:
        """Predicts with the base detector (default) or the auxiliary head chosen by ``test_cfg``.

        Args:
            batch_inputs: Images, (bs, 3, H, W).
            batch_data_samples: Data samples with meta information.
            rescale: Whether to rescale boxes to the original image size.

        Returns:
            The data samples with ``pred_instances`` (``bboxes`` (n, 4), ``scores`` (n, ), ``labels`` (n, )).
        """
        eval_module = self.test_cfg.get('eval_module', 'detr')
        eval_index = self.test_cfg.get('eval_index', 0)
        assert eval_module in EVAL_MODULES, f'test_cfg.eval_module must be one of {EVAL_MODULES}'
        img_feats = self.extract_feat(batch_inputs)
        base = self.base_detector
        if eval_module == 'detr':
            head_inputs = base.forward_transformer(img_feats, batch_data_samples)
            results = base.bbox_head.predict(**head_inputs, rescale=rescale, batch_data_samples=batch_data_samples)
        else:
            encoder_inputs, _ = base.pre_transformer(img_feats, batch_data_samples)
            encoder_outputs = base.forward_encoder(**encoder_inputs)
            feats = self.memory_feature_maps(img_feats, encoder_inputs, encoder_outputs)
            if eval_module == 'one-stage':
                assert len(self.bbox_head) > eval_index, 'one-stage evaluation needs a dense auxiliary head'
                results = self.bbox_head[eval_index].predict(feats, batch_data_samples, rescale=rescale)
            else:
                assert len(self.roi_head) > eval_index, 'two-stage evaluation needs an RoI auxiliary head'
                proposals = self.rpn_head.predict(feats, batch_data_samples, rescale=False)
                results = self.roi_head[eval_index].predict(feats, proposals, batch_data_samples, rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def _forward(self, batch_inputs: Tensor, batch_data_samples: OptSampleList = None) -> Tuple[Tensor]:
        """The base detector's head outputs without post-processing (tensor mode)."""
        img_feats = self.extract_feat(batch_inputs)
        head_inputs = self.base_detector.forward_transformer(img_feats, batch_data_samples)
        return self.base_detector.bbox_head.forward(**head_inputs)
