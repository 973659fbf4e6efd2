"""The composition matrix: pre-training (none, UP-DETR, METR) x base detector x plain / Co-DETR training.

One place that names the shipped config of every cell (small models on the vendored BCCD data, EfficientNet-Lite0
with offline ImageNet weights), and for a pre-trained cell the pre-training config whose checkpoint
``tools/model_converters/transfer.py`` maps into it. Used by the tests (every cell trains, every transfer loads the
transformer), by ``tools/bench/composition.py`` (a measured number per cell) and by docs/composition.md.
"""
from dataclasses import dataclass
from typing import List, Optional

PRETRAININGS = ('scratch', 'up-detr', 'metr')
BASES = ('DETR', 'Conditional DETR', 'DAB-DETR', 'Deformable DETR', 'DINO')
TRAININGS = ('plain', 'Co-DETR')


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix.

    Attributes:
        pretraining: ``'scratch'`` (ImageNet backbone only), ``'up-detr'`` or ``'metr'``.
        base: The base detector (one of :data:`BASES`).
        training: ``'plain'`` or ``'Co-DETR'``.
        config: The fine-tuning config (relative to the repository root).
        pretrain_config: The pre-training config whose checkpoint is transferred (None for scratch).
    """
    pretraining: str
    base: str
    training: str
    config: str
    pretrain_config: Optional[str] = None

    @property
    def name(self) -> str:
        return f'{self.pretraining} x {self.base} x {self.training}'


_SCRATCH = {
    'DETR': ('configs/detr/detr_lite0_1xb2-14e_bccd.py', 'configs/co_detr/co-detr_lite0_1xb2-14e_bccd.py'),
    'Conditional DETR': ('configs/conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py',
                         'configs/co_detr/co-conditional-detr_lite0_1xb2-14e_bccd.py'),
    'DAB-DETR': ('configs/dab_detr/dab-detr_lite0_1xb2-14e_bccd.py',
                 'configs/co_detr/co-dab-detr_lite0_1xb2-14e_bccd.py'),
    'Deformable DETR': ('configs/deformable_detr/deformable-detr_lite0_1xb2-14e_bccd.py',
                        'configs/co_detr/co-deformable-detr_lite0_1xb2-14e_bccd.py'),
    'DINO': ('configs/dino/dino_lite0_1xb2-14e_bccd.py', 'configs/co_detr/co-dino_lite0_1xb2-14e_bccd.py'),
}
_UP = 'configs/up_detr/'
_UP_DETR = {base: (f'{_UP}up-{name}_lite0_1xb4-20e_pretrain-coco128-bccd.py',
                   f'{_UP}up-{name}_lite0_1xb2-14e_finetune-bccd.py',
                   f'{_UP}co-up-{name}_lite0_1xb2-14e_finetune-bccd.py')
            for base, name in (('DETR', 'detr'), ('Conditional DETR', 'conditional-detr'), ('DAB-DETR', 'dab-detr'),
                               ('Deformable DETR', 'deformable-detr'), ('DINO', 'dino'))}
_M = 'configs/metr/'
_METR_128 = _M + 'metr_lite0_1xb2-12e_coco128-bccd.py'
_METR = {
    'DETR': (_METR_128, 'detr'),
    'Conditional DETR': (_METR_128, 'conditional-detr'),
    'DAB-DETR': (_METR_128, 'dab-detr'),
    'Deformable DETR': (_METR_128, 'deformable-detr'),
    'DINO': (_M + 'metr-256_lite0_1xb2-12e_coco128-bccd.py', 'dino'),  # mmdet's DINO needs 256-d
}


def cells() -> List[Cell]:
    """All 30 cells, scratch first, in :data:`BASES` order, plain before Co-DETR."""
    out = []
    for base in BASES:
        for training, config in zip(TRAININGS, _SCRATCH[base]):
            out.append(Cell('scratch', base, training, config))
    for base in BASES:
        pretrain, plain, co = _UP_DETR[base]
        out += [Cell('up-detr', base, 'plain', plain, pretrain), Cell('up-detr', base, 'Co-DETR', co, pretrain)]
    for base in BASES:
        pretrain, name = _METR[base]
        out += [Cell('metr', base, 'plain', f'{_M}{name}_lite0_1xb2-14e_bccd_from-metr.py', pretrain),
                Cell('metr', base, 'Co-DETR', f'{_M}co-{name}_lite0_1xb2-14e_bccd_from-metr.py', pretrain)]
    return out
