"""A NaN box, an inverted box or a label >= num_classes reaching a detector's loss is an error naming the image,
for every detector family (not scipy's 'matrix contains invalid numeric entries' or an IndexError)."""
import pytest

from mmdet_detrx.utils.model_build import build_detector

from ..conftest import REPO
from ..helpers import train_batch

CONFIGS = {
    'co-dino': f'{REPO}/configs/co_detr/co-dino_lite0_1xb2-14e_bccd.py',
    'conditional-detr': f'{REPO}/configs/conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py',
    'detr': f'{REPO}/configs/detr/detr_lite0_1xb2-14e_bccd.py',
    'metr': f'{REPO}/configs/metr/metr_lite0_1xb2-12e_coco128-bccd.py',
}


def _corrupt(data, kind):
    gt = data['data_samples'][1].gt_instances
    if kind == 'nan':
        gt.bboxes[0, 2] = float('nan')
    elif kind == 'inverted':
        gt.bboxes[0, 2] = gt.bboxes[0, 0] - 5
    else:
        gt.labels[0] = 3
    return data['data_samples'][1].img_path


# METR's labels are local to each sample's label space: no fixed num_classes to check them against
CASES = [(name, kind) for name in sorted(CONFIGS) for kind in ('nan', 'inverted', 'label')
         if not (name == 'metr' and kind == 'label')]


@pytest.mark.parametrize('name,kind', CASES)
def test_bad_gt_names_the_image(name, kind):
    cfg, model = build_detector(CONFIGS[name])
    data = model.data_preprocessor(train_batch(cfg), True)
    img_path = _corrupt(data, kind)
    expected = {'nan': 'are not finite', 'inverted': 'x2 < x1', 'label': r'label\(s\) \[3\] outside 0..2'}[kind]
    with pytest.raises(ValueError, match=expected) as err:
        model.loss(data['inputs'], data['data_samples'])
    assert img_path in str(err.value)
