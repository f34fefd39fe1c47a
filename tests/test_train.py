import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from colorgan.core import config
from colorgan.core.errors import ColorganError
from colorgan.interfaces.cli import main
from colorgan.io import modelfile
from colorgan.pipeline.loading import load_generator
from colorgan.training import train
from colorgan.training.losses import GeneratorLoss

from .conftest import TINY

pytestmark = pytest.mark.integration  # CONTRIBUTING.md: the test tiers

TRAINING = [  # after conftest.TINY, the tests' one tiny model
    "train.batch_size=2",
    "data.workers=0",
    "data.val_fraction=0.25",
    "train.log_every=1",
    "train.sample_every=2",
    "train.ckpt_every=2",
]


def tiny_cfg(photo_dir, preset="pix2pix-unet", extra=()):
    cfg = config.load(preset)
    return config.with_overrides(cfg, [*TINY, *TRAINING, f"data.root={photo_dir}", *extra])


def test_two_stage_training_writes_everything(photo_dir, tmp_path):
    cfg = tiny_cfg(photo_dir, extra=["train.steps=4", "train.pretrain_fraction=0.5"])
    final = train.run(cfg, tmp_path / "run")
    records = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    train_recs = [r for r in records if r["kind"] == "train"]
    assert [("d_real" in r) for r in train_recs] == [False, False, True, True]  # two stages
    assert all("g_l1" in r and "img_per_s" in r for r in train_recs)
    assert any(r["kind"] == "val" for r in records)
    assert (tmp_path / "run" / "samples" / "step_00000002.png").is_file()
    assert list((tmp_path / "run" / "tb").iterdir())
    generator, saved_cfg = load_generator(final)
    assert saved_cfg == cfg
    assert modelfile.latest_checkpoint(tmp_path / "run").name == "step_00000004"


def test_resume_equals_straight_run(photo_dir, tmp_path):
    two_stage = ["train.pretrain_fraction=0.5"]  # switch at step 3 of 6
    straight = train.run(tiny_cfg(photo_dir, extra=["train.steps=6", *two_stage]), tmp_path / "a")
    # the first part switches at step 3 of 4; resumed to 6 steps, the switch stays at 3
    # (6 x 0.75 would move it to step 4: the run must not go back to L1-only steps)
    part = tiny_cfg(
        photo_dir, extra=["train.steps=4", "train.ckpt_every=4", "train.pretrain_fraction=0.75"]
    )
    train.run(part, tmp_path / "b")
    resumed = train.run(config.with_overrides(part, ["train.steps=6"]), tmp_path / "b", resume=True)
    assert "steps: 6" in (tmp_path / "b" / "config.yaml").read_text()  # follows the resume
    a, b = load_file(str(straight)), load_file(str(resumed))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)
    # and resuming is not a no-op: the weights moved between step 3 and step 6
    mid = load_file(str(tmp_path / "b" / "checkpoints" / "step_00000004" / "generator.safetensors"))
    assert any(not torch.equal(mid[k], b[k]) for k in b if b[k].is_floating_point())


def test_non_finite_loss_stops_with_last_good_checkpoint(photo_dir, tmp_path, monkeypatch):
    real = GeneratorLoss.__call__
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        losses = real(*args, **kwargs)
        if calls["n"] == 3:
            losses["g_l1"] = losses["g_l1"] * float("nan")
        return losses

    monkeypatch.setattr(GeneratorLoss, "__call__", poisoned)
    with pytest.raises(ColorganError, match="g_l1 became nan.*step_00000002"):
        train.run(tiny_cfg(photo_dir, extra=["train.steps=6"]), tmp_path / "run")
    latest = modelfile.latest_checkpoint(tmp_path / "run")
    assert latest.name == "step_00000002"
    gen = load_file(str(latest / "generator.safetensors"))
    assert all(torch.isfinite(v).all() for v in gen.values())


def test_existing_run_is_never_overwritten(photo_dir, tmp_path):
    cfg = tiny_cfg(photo_dir, extra=["train.steps=2"])
    train.run(cfg, tmp_path / "run")
    with pytest.raises(ColorganError, match="already holds a run"):
        train.run(cfg, tmp_path / "run")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--preset", "nope", "--out", "x", "--data", "d"], "unknown preset 'nope'"),
        (["train", "--preset", "pix2pix-unet", "--out", "x"], "no training data"),
        (
            ["train", "--preset", "pix2pix-unet", "--out", "x", "--data", "d", "--set", "a=1"],
            "section.key=value",
        ),
        (["train", "--out", "nowhere", "--resume"], "nothing to resume"),
    ],
)
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_unknown_generator_in_config_lists_valid(photo_dir, tmp_path):
    cfg = tiny_cfg(photo_dir, extra=["model.generator=unet3000", "train.steps=1"])
    with pytest.raises(ValueError, match="valid: .*encoder-decoder.*unet"):
        train.run(cfg, tmp_path / "run")


def test_cli_kill_and_resume(photo_dir, tmp_path):
    """A run killed mid-way resumes from its last checkpoint through the command line."""
    out = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "colorgan",
        "train",
        "--preset",
        "pix2pix-unet",
        "--data",
        str(photo_dir),
        "--out",
        str(out),
        "--steps",
        "400",
        *[a for s in [*TINY, *TRAINING] for a in ("--set", s)],
        "--set",
        "train.ckpt_every=5",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while modelfile.latest_checkpoint(out) is None and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = json.loads((modelfile.latest_checkpoint(out) / "state.json").read_text())["step"]
    assert 5 <= saved < 400
    done = subprocess.run(
        [*args[:3], "train", "--out", str(out), "--resume", "--steps", str(saved + 5)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert modelfile.latest_checkpoint(out).name == f"step_{saved + 5:08d}"


def test_longer_resume_does_not_go_back_to_pretraining(photo_dir, tmp_path):
    part = tiny_cfg(photo_dir, extra=["train.steps=3", "train.pretrain_fraction=0.5"])
    train.run(part, tmp_path / "run")  # switched to GAN after step 2 (round(1.5) = 2)
    # 8 x 0.5 = 4 would put steps 4 back into L1 pretraining
    train.run(config.with_overrides(part, ["train.steps=8"]), tmp_path / "run", resume=True)
    records = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    stages = {r["step"]: "d_real" in r for r in records if r["kind"] == "train"}
    assert stages == {1: False, 2: False, 3: True, 4: True, 5: True, 6: True, 7: True, 8: True}
