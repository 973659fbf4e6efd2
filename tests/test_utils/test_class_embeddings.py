"""Tests for the class-name embedding files of METR and their loader (no sentence-transformers needed)."""
import os.path as osp

import pytest
import torch

from mmdet.datasets import CocoDataset
from mmdet_detrx.utils.class_embeddings import load_class_embeddings, save_class_embeddings
from mmdet_detrx.utils.class_embeddings import read_class_embedding_file
from tests.conftest import REPO

COCO_FILE = osp.join(REPO, 'data', 'class_embeddings', 'coco_minilm-l6.pt')
BCCD_FILE = osp.join(REPO, 'data', 'class_embeddings', 'bccd_minilm-l6.pt')
BCCD_CLASSES = ('RBC', 'WBC', 'Platelets')


def test_committed_coco_file():
    classes = CocoDataset.METAINFO['classes']
    data = read_class_embedding_file(COCO_FILE)
    assert data['class_names'] == list(classes)
    assert data['model'] == 'all-MiniLM-L6-v2' and data['template'] == 'a photo of a {}.' and data['normalized']
    emb = load_class_embeddings(COCO_FILE, classes, dim=384)
    assert emb.shape == (80, 384) and emb.dtype == torch.float32
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(80))
    # real text embeddings: related names are closer than unrelated ones
    cat, dog, car, truck, banana = load_class_embeddings(COCO_FILE, ['cat', 'dog', 'car', 'truck', 'banana'])
    assert cat @ dog > cat @ truck and car @ truck > car @ banana


def test_committed_bccd_file_and_reordering():
    emb = load_class_embeddings(BCCD_FILE, BCCD_CLASSES, dim=384)
    assert emb.shape == (3, 384)
    reordered = load_class_embeddings(BCCD_FILE, ['Platelets', 'RBC'])
    torch.testing.assert_close(reordered, emb[[2, 0]])
    from mmdet_detrx.datasets import BCCDDataset
    assert tuple(BCCDDataset.METAINFO['classes']) == BCCD_CLASSES


def test_missing_file():
    with pytest.raises(FileNotFoundError, match='embed_classnames.py'):
        load_class_embeddings('/nonexistent/emb.pt', ['a'])


def test_missing_names_are_listed():
    with pytest.raises(ValueError, match=r"2 of the 3 classes: 'rbc' \(did you mean 'RBC'\?\), 'neutrophil'"):
        load_class_embeddings(BCCD_FILE, ['rbc', 'WBC', 'neutrophil'])


def test_wrong_width():
    with pytest.raises(ValueError, match='384-dim embeddings .* expected 512'):
        load_class_embeddings(BCCD_FILE, BCCD_CLASSES, dim=512)


def test_repeated_requested_names():
    with pytest.raises(ValueError, match='repeats'):
        load_class_embeddings(BCCD_FILE, ['RBC', 'RBC'])


def test_round_trip_and_bad_files(tmp_path):
    path = str(tmp_path / 'emb.pt')
    emb = torch.randn(2, 5, dtype=torch.float64)
    save_class_embeddings(path, ['a', 'b'], emb, template='{}', model='toy', normalized=False)
    torch.testing.assert_close(load_class_embeddings(path, ['b', 'a'], dim=5), emb[[1, 0]].float())

    with pytest.raises(ValueError, match=r'shape \(3, D\)'):
        save_class_embeddings(path, ['a', 'b', 'c'], emb, template='{}', model='toy', normalized=False)

    bad = str(tmp_path / 'bad.pt')
    torch.save(dict(class_names=['a', 'b'], embeddings=torch.zeros(3, 4)), bad)
    with pytest.raises(ValueError, match='lacks the keys'):
        load_class_embeddings(bad, ['a'])
    torch.save(dict(class_names=['a', 'b'], embeddings=torch.zeros(3, 4), template='{}', model='m',
                    normalized=False), bad)
    with pytest.raises(ValueError, match=r'shape \(2, D\)'):
        load_class_embeddings(bad, ['a'])
    torch.save(dict(class_names=['a', 'a'], embeddings=torch.zeros(2, 4), template='{}', model='m',
                    normalized=False), bad)
    with pytest.raises(ValueError, match='repeat'):
        load_class_embeddings(bad, ['a'])
    torch.save(torch.zeros(3), bad)
    with pytest.raises(ValueError, match='expected a dict'):
        load_class_embeddings(bad, ['a'])
    with open(bad, 'w') as f:
        f.write('not a torch file')
    with pytest.raises(ValueError, match='not a readable class-embedding file'):
        load_class_embeddings(bad, ['a'])
