"""How each base detector decodes Co-DETR's customized positive query groups.

Co-DETR (:class:`~mmdet_detrx.models.detectors.co_detr.DetrxCoDETR`) needs two things from its base detector
that mmdet's template methods do not say: how wide the positive-query embedding is (content only, or
positional + content) and how to run the shared decoder once more over a padded query group with its own
self-attention mask and initial boxes. A :class:`CoQueryDecoder` answers both for one family of base
detectors; :func:`register_co_query_decoder` binds it to the base classes, and :func:`co_query_decoder_for`
finds it through the base's MRO. A new base joins by registering a decoder here or in its own module; Co-DETR
itself is not edited.

Registered (the design of each is in its docstring):

==================  ================================  ==============================================
base                positive query = generator(box)    initial reference
==================  ================================  ==============================================
``DINO``            content (C)                        the box (cx, cy, w, h)
``DeformableDETR``  (positional, content) (2C)         the box (two-stage), its centre (single-stage)
``CondDETR``        (positional, content) (2C)         the box centre (cx, cy)
``DABDETR``         content (C)                        the box as DAB's anchor (inverse sigmoid)
``DETR``            (positional, content) (2C)         none: the box lives in the positional query
==================  ================================  ==============================================
"""
from typing import Callable, Dict, Optional, Tuple, Type

from torch import Tensor

from mmdet.models.detectors import DABDETR, DETR, DINO, DeformableDETR
from mmdet.models.layers.transformer import inverse_sigmoid
from mmdet.structures import SampleList
from ..layers.co_detr_layers import CoQueryGroup
from .conditional_detr import CondDETR
from .decoder_passes import dab_decoder_pass, deformable_decoder_pass

_DECODERS: Dict[type, 'CoQueryDecoder'] = {}


class CoQueryDecoder:
    """Decodes positive query groups for one family of base detectors (the base's own pass is unchanged).

    Attributes:
        split_query: The generator's output is ``(positional, content)`` of ``2 * embed_dims`` channels (True)
            or the content query alone (False).
    """

    split_query: bool = False

    def query_channels(self, base) -> int:
        """Output width of the positive-query generator for ``base``."""
        return 2 * base.embed_dims if self.split_query else base.embed_dims

    def pre_decoder(self, base, encoder_outputs: Dict, batch_data_samples: SampleList) -> Tuple[Dict, Dict]:
        """The base's ``pre_decoder`` (decoder inputs, head inputs) for its own queries."""
        return base.pre_decoder(**encoder_outputs)

    def decode(self, base, group: CoQueryGroup, query: Tensor, self_attn_mask: Tensor,
               decoder_inputs: Dict) -> Dict:
        """One pass of ``base``'s decoder over a positive query group.

        Args:
            base: The base detector.
            group: The padded group; ``group.boxes`` (bs, n, 4) normalized (cx, cy, w, h).
            query: The generator's output, (bs, n, C) or (bs, n, 2C) (positional, content).
            self_attn_mask: (bs * num_heads, n, n), True = may not attend (padding isolated).
            decoder_inputs: The base's decoder inputs of its own pass (memory, masks, level layout).

        Returns:
            The keyword arguments of the base head's ``forward`` (``hidden_states`` (L, bs, n, C), and
            ``references`` where the head takes them).
        """
        raise NotImplementedError

    @staticmethod
    def split(base, query: Tensor) -> Tuple[Tensor, Tensor]:
        """``(positional, content)`` halves of a 2C query."""
        query_pos, content = query.split(base.embed_dims, dim=-1)
        return query_pos, content


def register_co_query_decoder(*base_types: type) -> Callable[[Type[CoQueryDecoder]], Type[CoQueryDecoder]]:
    """Class decorator: the decorated :class:`CoQueryDecoder` serves ``base_types`` and their subclasses."""

    def wrap(cls: Type[CoQueryDecoder]) -> Type[CoQueryDecoder]:
        for base_type in base_types:
            _DECODERS[base_type] = cls()
        return cls

    return wrap


def co_query_decoder_for(base) -> Optional[CoQueryDecoder]:
    """The decoder registered for the closest class in ``type(base).__mro__``; None if there is none."""
    for cls in type(base).__mro__:
        if cls in _DECODERS:
            return _DECODERS[cls]
    return None


def _memory_layout(decoder_inputs: Dict) -> Dict:
    return {k: decoder_inputs[k] for k in ('memory', 'memory_mask', 'spatial_shapes', 'level_start_index',
                                            'valid_ratios')}


@register_co_query_decoder(DINO)
class DINOQueryDecoder(CoQueryDecoder):
    """DINO: the content query is the generator's output; the decoder derives the positional query from the
    reference box itself (as for DINO's selected proposals), so the box is the initial reference. The group
    mask goes where DINO puts its denoising mask. ``pre_decoder`` takes the data samples (denoising groups)."""

    def pre_decoder(self, base, encoder_outputs: Dict, batch_data_samples: SampleList) -> Tuple[Dict, Dict]:
        return base.pre_decoder(**encoder_outputs, batch_data_samples=batch_data_samples)

    def decode(self, base, group, query, self_attn_mask, decoder_inputs):
        return base.forward_decoder(query=query, reference_points=group.boxes, dn_mask=self_attn_mask,
                                    **_memory_layout(decoder_inputs))


@register_co_query_decoder(DeformableDETR)
class DeformableQueryDecoder(CoQueryDecoder):
    """Deformable DETR: ``(positional, content)`` from the box embedding, as its two-stage proposals; box
    refinement follows the base's ``with_box_refine``.

    The initial reference follows the base's own queries. A two-stage base starts them from boxes, so the
    positive queries start from their boxes (the reference's Co-Deformable-DETR, two-stage + box refine). A
    single-stage base starts them from 2-d points: its regression branch then predicts absolute (w, h) and the
    deformable attention reads its sampling offsets in feature-map units, whereas with a box reference the same
    branch predicts (w, h) relative to the box and the offsets are scaled by the box size. Positive queries with
    boxes would train the shared branch and attention on both conventions at once; they start from the box
    centre instead (the box size stays in their positional query).
    """

    split_query = True

    def decode(self, base, group, query, self_attn_mask, decoder_inputs):
        query_pos, content = self.split(base, query)
        references = group.boxes if base.as_two_stage else group.boxes[..., :2]
        return deformable_decoder_pass(base, content, query_pos, references, **_memory_layout(decoder_inputs),
                                       self_attn_mask=self_attn_mask)


@register_co_query_decoder(CondDETR)
class ConditionalQueryDecoder(CoQueryDecoder):
    """Conditional DETR: ``(positional, content)``; the box centre is the reference point from which the
    conditional spatial query is built (instead of one predicted from the positional query)."""

    split_query = True

    def decode(self, base, group, query, self_attn_mask, decoder_inputs):
        query_pos, content = self.split(base, query)
        return base.forward_decoder(
            query=content,
            query_pos=query_pos,
            memory=decoder_inputs['memory'],
            memory_mask=decoder_inputs['memory_mask'],
            memory_pos=decoder_inputs['memory_pos'],
            self_attn_mask=self_attn_mask,
            reference_points=group.boxes[..., :2])


@register_co_query_decoder(DABDETR)
class DABQueryDecoder(CoQueryDecoder):
    """DAB-DETR: its object queries *are* anchor boxes (``query_pos`` = the unsigmoided 4-d anchor from which
    every layer builds its positional query and which it refines), so a positive box is put there directly
    (inverse sigmoid) and the generator's output is the content query."""

    def decode(self, base, group, query, self_attn_mask, decoder_inputs):
        return dab_decoder_pass(base, query, inverse_sigmoid(group.boxes), decoder_inputs['memory'],
                                decoder_inputs['memory_mask'], decoder_inputs['memory_pos'], self_attn_mask)


@register_co_query_decoder(DETR)
class DETRQueryDecoder(CoQueryDecoder):
    """Plain DETR (mmdet's ``DETR``, our ``ModularDETR``): no reference points, the head regresses absolute
    boxes. The box embedding takes the place of DETR's learned object query (``query_pos``, where a DETR
    query keeps its position) and the second half is the content query (zeros for DETR's own queries). The
    decoder sees the position only through ``query_pos``; the head is trained to regress the matched ground
    truth from it, which teaches the decoder to read positions from its positional queries."""

    split_query = True

    def decode(self, base, group, query, self_attn_mask, decoder_inputs):
        query_pos, content = self.split(base, query)
        hidden_states = base.decoder(
            query=content,
            key=decoder_inputs['memory'],
            value=decoder_inputs['memory'],
            query_pos=query_pos,
            key_pos=decoder_inputs['memory_pos'],
            key_padding_mask=decoder_inputs['memory_mask'],
            self_attn_mask=self_attn_mask)
        return dict(hidden_states=hidden_states)
