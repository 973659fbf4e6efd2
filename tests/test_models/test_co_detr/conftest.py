"""Fixtures of the Co-DETR tests."""
import pytest
import torch

from .helpers import build, co_detr_cfg, make_batch, run_aux_heads


@pytest.fixture(scope='module', autouse=True)
def single_thread():
    """One intra-op thread: on 2 shared cores, oversubscribed OpenMP threads make these small models ~50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def aux_run():
    model = build(co_detr_cfg('all'))
    model.train()
    inputs, samples = make_batch()
    with torch.no_grad():
        feats, dec_in, losses, positives = run_aux_heads(model, inputs, samples)
    return model, samples, feats, dec_in, positives


