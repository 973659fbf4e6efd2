"""DETRX_SMOKE=1 cuts runs to seconds without touching the documented command lines."""
import os

from mmengine.config import Config

from mmdet_detrx.utils.smoke import SMOKE_SAMPLES, alias_final_checkpoint, apply_smoke

from ..conftest import REPO


def test_off_by_default(monkeypatch):
    monkeypatch.delenv('DETRX_SMOKE', raising=False)
    cfg = Config.fromfile(f'{REPO}/configs/conditional_detr/conditional-detr_lite0_1xb2-14e_bccd.py')
    before = cfg.to_dict()
    apply_smoke(cfg)
    assert cfg.to_dict() == before


def test_epochs_and_every_nested_dataset_are_cut(monkeypatch):
    monkeypatch.setenv('DETRX_SMOKE', '1')
    cfg = Config.fromfile(f'{REPO}/configs/metr/metr_lite0_1xb2-12e_coco128-bccd.py')
    apply_smoke(cfg)
    assert cfg.train_cfg.max_epochs == 1 and cfg.train_cfg.val_interval == 1 and cfg.smoke_full_max_epochs == 12
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[name]
        assert loader.num_workers == 0 and loader.persistent_workers is False
        children = loader.dataset.datasets  # MultiLabelSpaceDataset of two datasets
        assert len(children) == 2 and all(c.indices == SMOKE_SAMPLES for c in children)
        assert 'indices' not in loader.dataset
    episode = Config.fromfile(f'{REPO}/configs/up_detr/one-shot_up-conditional-detr_lite0_1xb2-12e_coco128.py')
    apply_smoke(episode)
    assert episode.train_dataloader.dataset.dataset.indices == SMOKE_SAMPLES  # the wrapped dataset, not the wrapper


def test_iteration_loops_are_cut(monkeypatch):
    monkeypatch.setenv('DETRX_SMOKE', '1')
    cfg = Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=1000, val_interval=100)))
    apply_smoke(cfg)
    assert cfg.train_cfg.max_iters == 2 and cfg.train_cfg.val_interval == 2


def test_final_checkpoint_alias(monkeypatch, tmp_path):
    monkeypatch.setenv('DETRX_SMOKE', '1')
    (tmp_path / 'epoch_1.pth').write_bytes(b'x')
    cfg = Config(dict(work_dir=str(tmp_path), smoke_full_max_epochs=14))
    alias_final_checkpoint(cfg)
    assert os.path.realpath(tmp_path / 'epoch_14.pth') == str(tmp_path / 'epoch_1.pth')


def test_final_checkpoint_alias_in_a_distributed_run(monkeypatch, tmp_path):
    """Every rank of tools/dist_train.sh calls the alias: only the main process links, and a link made meanwhile by
    another process is kept instead of failing (CI once failed with FileExistsError on rank 0)."""
    monkeypatch.setenv('DETRX_SMOKE', '1')
    (tmp_path / 'epoch_1.pth').write_bytes(b'x')
    cfg = Config(dict(work_dir=str(tmp_path), smoke_full_max_epochs=14))
    monkeypatch.setattr('mmengine.dist.is_main_process', lambda: False)
    alias_final_checkpoint(cfg)
    assert not os.path.lexists(tmp_path / 'epoch_14.pth')
    monkeypatch.setattr('mmengine.dist.is_main_process', lambda: True)
    real_lexists = os.path.lexists

    def other_rank_links_first(path):  # the other process links between our check and our symlink
        exists = real_lexists(path)
        if not exists and str(path).endswith('epoch_14.pth'):
            os.symlink(tmp_path / 'epoch_1.pth', path)
        return exists

    monkeypatch.setattr(os.path, 'lexists', other_rank_links_first)
    alias_final_checkpoint(cfg)
    monkeypatch.setattr(os.path, 'lexists', real_lexists)
    assert os.path.realpath(tmp_path / 'epoch_14.pth') == str(tmp_path / 'epoch_1.pth')
