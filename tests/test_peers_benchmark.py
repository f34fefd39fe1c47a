"""benchmarks/peer_nets.py: the four peer colorizers' networks that benchmarks/peers.py times
have the outputs and the parameter counts of the authors' models, on a 64 px input."""

import importlib.util
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.integration  # CONTRIBUTING.md: the test tiers (builds 185M params)

ROOT = Path(__file__).resolve().parent.parent
SIZE = 64  # small, and a multiple of 32 as DDColor's ConvNeXt needs

# parameters of the authors' models, counted from their code (benchmarks/peer_nets.py says
# which files): richzhang/colorization eccv16.py and siggraph17.py, piddnad/DDColor
# ddcolor/model.py at pipeline.py's "tiny" settings, jantic/DeOldify gen_inference_deep
AUTHORS = {
    "Eccv16": 32_236_011,
    "Siggraph17": 34_187_027,
    "DDColorTiny": 55_006_640,
    "DeOldifyArtistic": 63_646_881,
}


@pytest.fixture(scope="module")
def peer_nets():
    """benchmarks/peer_nets.py, loaded by path (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location("peer_nets", ROOT / "benchmarks/peer_nets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def nets(peer_nets):
    """Each network built once (random weights), in eval mode."""
    torch.manual_seed(0)
    return {name: getattr(peer_nets, name)().eval() for name in AUTHORS}


def _run(net, *inputs, **options):
    torch.manual_seed(0)
    with torch.inference_mode():
        return net(*inputs, **options)


@pytest.mark.parametrize("name", AUTHORS)
def test_parameter_count_is_the_authors(peer_nets, nets, name):
    ours = peer_nets.parameters(nets[name])
    assert abs(ours - AUTHORS[name]) <= 0.05 * AUTHORS[name], (ours, AUTHORS[name])


def test_eccv16_gives_313_bins_at_a_quarter_and_ab_at_full_size(nets):
    L = torch.rand(1, 1, SIZE, SIZE) * 100
    logits, ab = _run(nets["Eccv16"], L)
    assert logits.shape == (1, 313, SIZE // 4, SIZE // 4)
    assert ab.shape == (1, 2, SIZE, SIZE)


def test_siggraph17_gives_ab_at_full_size_and_529_classes_at_a_quarter(nets):
    L = torch.rand(1, 1, SIZE, SIZE) * 100
    hints, mask = torch.zeros(1, 2, SIZE, SIZE), torch.zeros(1, 1, SIZE, SIZE)
    net = nets["Siggraph17"]
    ab, classes = _run(net, L, hints, mask, with_classes=True)
    assert ab.shape == (1, 2, SIZE, SIZE)
    assert classes.shape == (1, 529, SIZE // 4, SIZE // 4)
    assert ab.abs().max() <= 110  # tanh times their ab scale
    assert torch.equal(_run(net, L, hints, mask), ab)  # the timed call: ab alone, the same


def test_ddcolor_tiny_gives_ab_at_full_size(nets):
    (gray,) = nets["DDColorTiny"].example(SIZE)
    assert _run(nets["DDColorTiny"], gray).shape == (1, 2, SIZE, SIZE)


@pytest.mark.parametrize("size", [SIZE, 70])  # 70: odd sizes below, as 560 px gives
def test_deoldify_gives_rgb_in_its_range_at_full_size(nets, size):
    (gray,) = nets["DeOldifyArtistic"].example(size)
    out = _run(nets["DeOldifyArtistic"], gray)
    assert out.shape == (1, 3, size, size)
    assert out.min() >= -3 and out.max() <= 3  # SigmoidRange(-3, 3)
