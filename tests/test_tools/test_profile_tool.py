"""``--profile`` of the train-step benchmarks: stage labels wrapped around a model's parts and removed afterwards,
and the stage / operator tables of ``tools/benchmark.py conditional-detr --profile``."""
import sys

import torch
from torch import nn

from tests.conftest import assert_ok, run_cmd


class _Assigner:
    def assign(self, x):
        return x.argmax(-1)


class _Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)
        self.assigner = _Assigner()

    def loss(self, x):
        self.assigner.assign(x)
        return self.fc(x).square().mean()


class _Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(4, 8)
        self.bbox_head = _Head()

    def forward_encoder(self, x):
        return self.backbone(x).relu()

    def step(self):
        x = torch.randn(16, 4)
        self.bbox_head.loss(self.forward_encoder(x)).backward()


def test_labelled_stages_wraps_and_restores():
    from tools.bench._profile import labelled_stages
    model = _Model()
    before = {id(o): dict(vars(o)) for o in (model, model.backbone, model.bbox_head, model.bbox_head.assigner)}
    with labelled_stages(model) as labels:
        assert sorted(labels) == ['backbone', 'bbox_head', 'bbox_head.assigner.assign', 'bbox_head.loss',
                                  'forward_encoder']
        assert 'loss' in vars(model.bbox_head)
    for obj in (model, model.backbone, model.bbox_head, model.bbox_head.assigner):
        assert vars(obj).keys() == before[id(obj)].keys()
    assert type(model).forward_encoder is _Model.forward_encoder


def test_profile_steps_reports_every_stage_per_step():
    from tools.bench._profile import profile_steps
    models = {'a': _Model(), 'b': _Model()}
    results = profile_steps(models, {k: m.step for k, m in models.items()}, n=2)
    for stages, ops, wall in results.values():
        assert {'backbone', 'bbox_head.loss', 'bbox_head.assigner.assign', 'forward_encoder'} <= set(stages)
        # the head's loss contains its matching; the encoder call contains the backbone
        assert stages['bbox_head.loss'] >= stages['bbox_head.assigner.assign'] > 0
        assert stages['forward_encoder'] >= stages['backbone'] > 0
        assert any(k.startswith('aten::') for k in ops) and wall > 0


def test_conditional_detr_benchmark_profile_tables():
    proc = run_cmd([sys.executable, 'tools/benchmark.py', 'conditional-detr', '--enc-layers', '1', '--dec-layers', '1',
                    '--queries', '10', '--img-size', '64', '--threads', '1', '--profile', '1', '--profile-top', '5'],
                   env={'OMP_NUM_THREADS': '1'})
    assert_ok(proc)
    out = proc.stdout
    rows = {line.split('|')[1].strip(): line for line in out.splitlines() if line.startswith('| ')}
    for stage in ('forward+loss', 'backward', 'optimizer', 'backbone', 'encoder', 'decoder', 'bbox_head.loss',
                  'step (wall)'):
        assert stage in rows, stage
    assert 'bbox_head.assigner.batch_assign' in rows and 'bbox_head.assigner.assign' in rows  # ours / mmdet
    assert sum(1 for k in rows if k.startswith('`')) == 5
    assert 'ratio=' not in out
