"""colorgan.training.degrade: old-photo damage of the L input during training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from colorgan.core import config
from colorgan.core.errors import ColorganError
from colorgan.training.degrade import degrade_l, gaussian_blur, jpeg_roundtrip
from tests.conftest import make_photo


def lightness(n: int = 8, size: int = 64) -> torch.Tensor:
    gray = [np.asarray(make_photo(s, (size, size)).convert("L"), np.float32) for s in range(n)]
    return torch.from_numpy(np.stack(gray))[:, None] / 127.5 - 1


def test_share_decides_how_many_crops_change_and_the_seed_how():
    x = lightness()
    assert degrade_l(x, 5, 0.0) is x
    every = degrade_l(x, 5, 1.0)
    assert every.shape == x.shape and every.min() >= -1 and every.max() <= 1
    changed = (every - x).abs().flatten(1).mean(1) > 1e-3
    assert changed.all()
    assert torch.equal(degrade_l(x, 5, 1.0), every)  # a resumed run draws the same damage
    assert not torch.equal(degrade_l(x, 6, 1.0), every)
    half = degrade_l(lightness(64, 16), 1, 0.5)
    kept = ((half - lightness(64, 16)).abs().flatten(1).amax(1) == 0).float().mean()
    assert 0.25 < kept < 0.75


def test_blur_and_jpeg_damage_detail_not_the_mean():
    y = (lightness(1)[0] + 1) / 2
    detail = lambda t: (t[:, 1:] - t[:, :-1]).abs().mean()  # noqa: E731
    blurred = gaussian_blur(y, 1.5)
    assert blurred.shape == y.shape and detail(blurred) < 0.8 * detail(y)
    assert abs(blurred.mean() - y.mean()) < 0.01
    coarse = jpeg_roundtrip(y, 15)
    assert coarse.shape == y.shape and 0 < (coarse - y).abs().mean() < 0.1


def test_config_range():
    with pytest.raises(ColorganError, match="data.degrade"):
        config.from_dict({"data": {"degrade": 1.5}})
    assert config.from_dict({"data": {"degrade": 0.5}}).data.degrade == 0.5
