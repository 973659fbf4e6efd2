"""tools/check_dataset.py lists every unreadable image and every dropped annotation of a config at once."""
import json
import os.path as osp
import shutil

from ..conftest import REPO, assert_ok, run_cmd

COCO = osp.join(REPO, 'data', 'coco128')


def _dataset(tmp_path, corrupt: bool):
    with open(osp.join(COCO, 'annotations', 'instances_train2017.json')) as f:
        data = json.load(f)
    data['images'] = data['images'][:4]
    ids = {img['id'] for img in data['images']}
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] in ids]
    (tmp_path / 'img').mkdir()
    for img in data['images']:
        shutil.copy(osp.join(COCO, 'train2017', img['file_name']), tmp_path / 'img' / img['file_name'])
    if corrupt:
        (tmp_path / 'img' / data['images'][1]['file_name']).write_bytes(b'not a jpeg at all')
        (tmp_path / 'img' / data['images'][2]['file_name']).unlink()
        data['annotations'][0]['bbox'][3] = 0.0
    (tmp_path / 'ann.json').write_text(json.dumps(data))
    config = tmp_path / 'cfg.py'
    config.write_text(
        f"_base_ = '{REPO}/configs/conditional_detr/conditional-detr_r18_1xb2-12e_coco128.py'\n"
        f"train_dataloader = dict(dataset=dict(data_root='{tmp_path}/', ann_file='ann.json', "
        f"data_prefix=dict(img='img/')))\n")
    return str(config), data


def test_reports_everything_at_once(tmp_path):
    config, data = _dataset(tmp_path, corrupt=True)
    proc = run_cmd(['python', 'tools/check_dataset.py', config, '--splits', 'train'])
    assert proc.returncode == 1, proc.stderr[-2000:]
    out = proc.stdout
    assert f"{data['images'][1]['file_name']}: not decodable" in out
    assert f"{data['images'][2]['file_name']}: missing file" in out
    assert '1 annotation(s) dropped: width or height < 1' in out
    assert '3 problem(s) found' in out


def test_clean_dataset_exits_zero(tmp_path):
    config, _ = _dataset(tmp_path, corrupt=False)
    proc = run_cmd(['python', 'tools/check_dataset.py', config, '--splits', 'train'])
    assert_ok(proc)
    assert 'all images readable, no annotation dropped' in proc.stdout
