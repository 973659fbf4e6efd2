"""Draw Conditional DETR's cross-attention maps of the top-scoring queries (the paper's Figure 1 panels).

    python tools/analysis/draw_cond_detr_attention.py CONFIG CHECKPOINT IMAGE --out attn.png \\
        [--queries 3] [--layer -1] [--head H] [--cfg-options ...]

For each of the ``--queries`` (alias ``--topk``) queries with the highest final score, one row: the image
with the query's predicted box and reference point, then three maps of the chosen decoder layer's
cross-attention over the encoder memory, overlaid on the image:

* content: ``softmax(c_q . c_k / sqrt(d))``, the content query against the content keys;
* spatial: ``softmax(s . p_k / sqrt(d))``, the conditional spatial query ``s = Ws(T * PE(ref))`` against the
  positional keys ``p_k`` (the maps the paper shows);
* combined: ``softmax((c_q . c_k + s . p_k) / sqrt(d))``, the weights the layer actually uses.

Maps are averaged over heads unless ``--head`` picks one. Works for ``CondDETR`` and for Co-DETR models whose
base detector (``query_head``) is a ``CondDETR``.

The weights are not read from inside the attention module: a forward hook records the cross-attention's
inputs and :func:`cross_attention_maps` recomputes the logits from the module's own projections (same ops,
same scaling), so the model's computation is untouched.
"""
import argparse
import contextlib
import inspect
from typing import Dict, Iterator, List, Optional

import numpy as np
import torch
from torch import Tensor, nn

import mmdet_detrx  # noqa: F401
import mmdet_detrx.checkpoint_loading  # noqa: F401  (safe loader for local checkpoints)
from mmdet_detrx.visualization.drawing import (BOX_COLORS, class_names, draw_boxes, feature_map_to_image, load_detector,
                   overlay_heatmap, panel_grid, read_rgb, save_figure, show_image, xyxy_boxes)
from mmdet_detrx.models.layers.conditional_attention import CondDETRCrossAttention, attention_bias

MAP_KINDS = ('content', 'spatial', 'combined')


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    parser.add_argument('--out', required=True, help='output PNG file')
    parser.add_argument('--queries', '--topk', dest='num_queries', type=int, default=3,
                        help='number of top-scoring queries to draw (one row each)')
    parser.add_argument('--layer', type=int, default=-1,
                        help='decoder layer whose cross-attention is drawn (negative counts from the last)')
    parser.add_argument('--head', type=int, default=None, help='draw one attention head instead of the mean')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides, key=value')
    return parser.parse_args(argv)


def _split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(B, L, H * d) -> (B, H, L, d)."""
    batch_size, length, channels = x.shape
    return x.view(batch_size, length, num_heads, channels // num_heads).transpose(1, 2)


@torch.no_grad()
def cross_attention_maps(attn: CondDETRCrossAttention, query: Tensor, key: Tensor, key_pos: Tensor,
                         ref_sine_embed: Tensor, query_pos: Optional[Tensor] = None,
                         attn_mask: Optional[Tensor] = None,
                         key_padding_mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
    """Content, spatial and combined attention weights of a conditional cross-attention.

    Takes the arguments of :meth:`CondDETRCrossAttention.forward` and recomputes, per head h, the content
    logits ``c_q^h . c_k^h`` and the spatial logits ``s^h . p_k^h`` with the module's projections. Both are
    scaled by ``1 / sqrt(2 D / H)`` (the width of the concatenated per-head query, as the module does) and
    masked like the module; ``combined`` is the softmax of their sum, i.e. exactly the (pre-dropout)
    attention weights the module uses.

    Args:
        attn: the cross-attention module.
        query: decoder embeddings, (B, Q, D).
        key: encoder memory, (B, K, D).
        key_pos: memory positional embedding, (B, K, D).
        ref_sine_embed: conditional spatial embedding, (B, Q, D).
        query_pos: object queries, (B, Q, D); used when ``attn.use_query_pos``.
        attn_mask: (Q, K) or (B * H, Q, K) mask as the module takes it.
        key_padding_mask: (B, K), True at padding.

    Returns:
        dict with ``content``, ``spatial``, ``combined``: softmax weights over the keys, each (B, H, Q, K).
    """
    if not isinstance(attn, CondDETRCrossAttention):
        raise TypeError(f'expected a CondDETRCrossAttention, got {type(attn).__name__}')
    heads = attn.num_heads
    batch_size, num_queries, _ = query.shape
    num_keys = key.size(1)
    q_content = attn.qcontent_proj(query)
    k_content = attn.kcontent_proj(key)
    k_pos = attn.kpos_proj(key_pos)
    if attn.use_query_pos:
        q_content = q_content + attn.qpos_proj(query_pos)
        k_content = k_content + k_pos
    q_spatial = attn.qpos_sine_proj(ref_sine_embed)
    scale = (2 * attn.embed_dims // heads)**-0.5
    content = _split_heads(q_content, heads) @ _split_heads(k_content, heads).transpose(-1, -2) * scale
    spatial = _split_heads(q_spatial, heads) @ _split_heads(k_pos, heads).transpose(-1, -2) * scale
    bias = attention_bias(attn_mask, key_padding_mask, batch_size, heads, num_queries, num_keys, query.dtype)
    if bias is None:
        bias = query.new_zeros((1, 1, 1, 1))
    elif bias.size(0) == 1:
        bias = bias[None]
    else:
        bias = bias.view(batch_size, heads, bias.size(-2), num_keys)
    return dict(content=(content + bias).softmax(-1), spatial=(spatial + bias).softmax(-1),
                combined=(content + spatial + bias).softmax(-1))


@contextlib.contextmanager
def record_forward(module: nn.Module) -> Iterator[Dict]:
    """Records the (bound) arguments and the output of ``module``'s forward calls while active.

    Yields:
        dict: after each call, ``inputs`` (argument name -> value) and ``output`` of the latest call.
    """
    record: Dict = {}
    signature = inspect.signature(module.forward)

    def hook(mod, args, kwargs, output):
        record['inputs'] = dict(signature.bind(*args, **kwargs).arguments)
        record['output'] = output

    handle = module.register_forward_hook(hook, with_kwargs=True)
    try:
        yield record
    finally:
        handle.remove()


def _cond_detr(model: nn.Module) -> nn.Module:
    """The Conditional DETR inside ``model`` (the model itself, or a Co-DETR's ``query_head``)."""
    detr = getattr(model, 'query_head', model)
    layers = getattr(getattr(detr, 'decoder', None), 'layers', None)
    if layers is None or not all(isinstance(getattr(layer, 'cross_attn', None), CondDETRCrossAttention)
                                 for layer in layers):
        raise TypeError(f'{type(model).__name__} has no decoder with CondDETRCrossAttention layers; this tool '
                        'draws Conditional DETR (CondDETR, or a DetrxCoDETR with a CondDETR query_head)')
    return detr


def draw_cond_detr_attention(config: str, checkpoint: str, image: str, out: str, num_queries: int = 3,
                             layer: int = -1, head: Optional[int] = None, device: str = 'cpu',
                             cfg_options: Optional[dict] = None) -> Dict:
    """Runs the detector on ``image`` and writes the attention figure to ``out``.

    Returns:
        dict: ``out``; ``layer`` (non-negative index); ``queries`` (N, ) indices of the drawn queries;
        ``scores`` (N, ); ``labels`` (N, ); ``boxes`` (N, 4) original-image xyxy; ``feat_shape`` (h, w) of the
        memory; ``maps``: per kind in ``MAP_KINDS`` the drawn queries' weights, (N, H, h * w);
        ``pred_instances``: the detector's own predictions (original image scale).
    """
    from mmdet.apis import inference_detector
    if num_queries < 1:
        raise ValueError(f'--queries must be >= 1, got {num_queries}')
    img = read_rgb(image)
    model = load_detector(config, checkpoint, device=device, cfg_options=cfg_options)
    detr = _cond_detr(model)
    num_layers = len(detr.decoder.layers)
    if not -num_layers <= layer < num_layers:
        raise ValueError(f'--layer {layer} out of range for a decoder with {num_layers} layers')
    layer = layer % num_layers
    attn = detr.decoder.layers[layer].cross_attn
    if head is not None and not 0 <= head < attn.num_heads:
        raise ValueError(f'--head {head} out of range: the cross-attention has {attn.num_heads} heads')
    feat_module = model.neck if getattr(model, 'neck', None) is not None else model.backbone
    with record_forward(attn) as attn_rec, record_forward(detr.bbox_head) as head_rec, \
            record_forward(detr.decoder) as dec_rec, record_forward(feat_module) as feat_rec:
        result = inference_detector(model, image)
    feat_shape = tuple(int(v) for v in feat_rec['output'][-1].shape[-2:])
    maps = cross_attention_maps(attn, **attn_rec['inputs'])
    num_keys = maps['combined'].size(-1)
    if feat_shape[0] * feat_shape[1] != num_keys:
        raise RuntimeError(f'memory has {num_keys} keys but the last feature map is {feat_shape}')

    cls_scores, bbox_preds = head_rec['output']  # (L, 1, Q, C) logits, (L, 1, Q, 4) normalized cxcywh
    scores, labels = cls_scores[-1, 0].sigmoid().max(-1)
    num_queries = min(num_queries, scores.numel())
    queries = torch.argsort(scores, descending=True)[:num_queries]
    meta = result.metainfo
    img_h, img_w = meta['img_shape'][:2]
    w_scale, h_scale = (float(v) for v in np.asarray(meta['scale_factor']).reshape(-1)[:2])
    # as the head's predict: clip to the resized image, then back to the original image
    boxes = xyxy_boxes(bbox_preds[-1, 0, queries], img_w, img_h).clip(0, [img_w, img_h, img_w, img_h])
    boxes = boxes / np.array([w_scale, h_scale, w_scale, h_scale])
    refs = dec_rec['output'][1]
    refs = (refs[-1] if refs.dim() == 4 else refs)[0, queries].cpu().numpy() * np.array([img_w / w_scale,
                                                                                            img_h / h_scale])

    names = class_names(model)
    fig, axes = panel_grid(num_queries, 1 + len(MAP_KINDS), aspect=img.shape[0] / img.shape[1])
    head_text = 'mean of heads' if head is None else f'head {head}'
    for row, q in enumerate(queries.tolist()):
        color = BOX_COLORS[row % len(BOX_COLORS)]
        label = int(labels[q])
        name = names[label] if label < len(names) else str(label)
        show_image(axes[row, 0], img, f'query {q}: {name} {float(scores[q]):.2f}')
        draw_boxes(axes[row, 0], boxes[row], color, linewidth=2.0)
        axes[row, 0].plot(*refs[row], marker='x', color=color, markersize=8, mew=2)
        for col, kind in enumerate(MAP_KINDS, start=1):
            weights = maps[kind][0, :, q]  # (H, K)
            per_key = weights.mean(0) if head is None else weights[head]
            heat = feature_map_to_image(per_key.view(*feat_shape).cpu().numpy(), meta['batch_input_shape'],
                                        meta['img_shape'], meta['ori_shape'])
            overlay_heatmap(axes[row, col], img, heat, f'{kind}, layer {layer}, {head_text}')
            draw_boxes(axes[row, col], boxes[row], 'white', linewidth=1.2)
    save_figure(fig, out)
    return dict(out=out, layer=layer, queries=queries, scores=scores[queries], labels=labels[queries], boxes=boxes,
                feat_shape=feat_shape, maps={k: v[0, :, queries].transpose(0, 1) for k, v in maps.items()},
                pred_instances=result.pred_instances)


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    res = draw_cond_detr_attention(args.config, args.checkpoint, args.image, args.out, args.num_queries,
                                   args.layer, args.head, args.device, args.cfg_options)
    print(f'{res["out"]}: layer {res["layer"]}, queries {res["queries"].tolist()}, '
          f'scores {[round(float(s), 3) for s in res["scores"]]}, memory {res["feat_shape"][0]}x{res["feat_shape"][1]}')
    return res


if __name__ == '__main__':
    main()
