"""Issue 15, failures 3 and 9: resume walks back to the newest checkpoint that verifies;
`latest` naming a missing folder falls back; checkpoints are due by time and run length as
well as by steps; a restarted run starts a clean log."""

import json
import logging
import shutil
from pathlib import Path

import pytest

from colorgan.core import config
from colorgan.core.errors import ColorganError
from colorgan.interfaces.cli import main
from colorgan.io import atomic, modelfile
from colorgan.training import checkpoint, resume, train

from .conftest import TINY

pytestmark = pytest.mark.integration  # CONTRIBUTING.md: the test tiers

TRAINING = [  # after conftest.TINY, the tests' one tiny model
    "train.batch_size=2",
    "data.workers=0",
    "data.val_fraction=0.25",
    "train.log_every=1",
    "train.sample_every=100",
    "train.ckpt_every=2",
]
LOADED = [
    "generator.safetensors",
    "discriminator.safetensors",
    "optimizer.safetensors",
    "state.safetensors",
    "state.json",
]


def tiny_cfg(photo_dir, *extra):
    return config.with_overrides(
        config.load("pix2pix-unet"), [*TINY, *TRAINING, f"data.root={photo_dir}", *extra]
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """4 steps with checkpoints at steps 2 and 4 (each test damages a copy)."""
    from .conftest import make_photo

    root = tmp_path_factory.mktemp("ckpt")
    photos = root / "photos"
    photos.mkdir()
    for i in range(8):
        make_photo(i).save(photos / f"img{i}.png")
    train.run(tiny_cfg(photos, "train.steps=4"), root / "run")
    return root / "run"


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    return out


def resume_cli(out: Path, steps: int) -> int:
    return main(["train", "--out", str(out), "--resume", "--steps", str(steps)])


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("name", LOADED)
def test_damaged_newest_checkpoint_falls_back_to_the_one_before(run_copy, name, caplog):
    truncate(run_copy / "checkpoints" / "step_00000004" / name)
    with caplog.at_level(logging.WARNING):
        assert resume_cli(run_copy, 5) == 0
    lines = [r.getMessage() for r in caplog.records if "resuming from" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "step_00000002 (step 2)" in lines[0]
    assert f"step_00000004: {name} has" in lines[0]  # which file, and how it is wrong
    records = [json.loads(x) for x in (run_copy / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3, 4, 5]
    assert modelfile.latest_checkpoint(run_copy).name == "step_00000005"


def test_same_size_corruption_is_caught_by_the_checksum(run_copy, caplog):
    file = run_copy / "checkpoints" / "step_00000004" / "generator.safetensors"
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF  # a flipped bit in a weight: loads fine, is wrong
    file.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert resume_cli(run_copy, 5) == 0
    assert "generator.safetensors does not match its checksum" in caplog.text


def test_latest_naming_a_missing_folder_falls_back(run_copy, caplog):
    shutil.rmtree(run_copy / "checkpoints" / "step_00000004")
    with caplog.at_level(logging.WARNING):
        assert resume_cli(run_copy, 5) == 0
    assert "step_00000004: its folder does not exist" in caplog.text


def test_no_checkpoint_that_verifies_is_one_line_with_every_reason(run_copy, capsys):
    for step in ("step_00000002", "step_00000004"):
        truncate(run_copy / "checkpoints" / step / "state.json")
    assert resume_cli(run_copy, 5) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: nothing to resume")
    assert "step_00000004: state.json has" in err and "step_00000002: state.json has" in err


class Killed(BaseException):
    """The process dying here (SIGKILL, power loss): nothing after it runs."""


def test_a_kill_while_writing_leaves_the_previous_checkpoint_newest(run_copy, monkeypatch):
    real, calls = atomic.write_bytes, []

    def killed(path, data, **kw):
        calls.append(path)
        if len([c for c in calls if "step_00000006" in str(c)]) == 3:
            raise Killed  # the third file of the new checkpoint
        return real(path, data, **kw)

    monkeypatch.setattr(atomic, "write_bytes", killed)
    with pytest.raises(Killed):
        train.run(config.with_overrides(_saved_cfg(run_copy), ["train.steps=6"]), run_copy, True)
    monkeypatch.undo()
    assert calls[-1].parent.name.startswith(".step_00000006.tmp-")  # inside the checkpoint
    root = run_copy / "checkpoints"
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step_00000002", "step_00000004"]
    assert checkpoint.verify(root / "step_00000004") is None


def test_old_checkpoints_without_a_manifest_still_resume(run_copy):
    for step in ("step_00000002", "step_00000004"):
        (run_copy / "checkpoints" / step / checkpoint.MANIFEST).unlink()
    assert resume_cli(run_copy, 5) == 0


def _saved_cfg(out: Path):
    return config.load(str(out / "config.yaml"))


def test_a_restarted_run_starts_a_clean_log(run_copy):
    """Failure 9: a run killed after step 4's log line but before its checkpoint logged
    steps 3 and 4 twice once resumed."""
    shutil.rmtree(run_copy / "checkpoints" / "step_00000004")
    (run_copy / "checkpoints" / "latest").write_text("step_00000002")
    with open(run_copy / "log.jsonl", "a") as log:
        log.write('{"step": 5, "kind": "tr')  # the line a kill cut off
    assert resume_cli(run_copy, 4) == 0
    records = [json.loads(x) for x in (run_copy / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3, 4]


def test_a_new_run_where_one_died_before_its_first_checkpoint_starts_empty(photo_dir, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "log.jsonl").write_text('{"step": 1, "kind": "train", "g_l1": 9}\n')
    train.run(tiny_cfg(photo_dir, "train.steps=1"), out)
    records = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r.get("g_l1") != 9 for r in records if r["kind"] == "train"] == [True]


def test_a_run_shorter_than_ckpt_every_still_checkpoints_half_way(photo_dir, tmp_path):
    """Failure 9: with ckpt_every=200 a shorter run had no checkpoint until its end."""
    saved = []
    real = resume.save

    def record(parts, out, step):
        saved.append(step)
        real(parts, out, step)

    cfg = tiny_cfg(photo_dir, "train.steps=6", "train.ckpt_every=200")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(resume, "save", record)
        train.run(cfg, tmp_path / "run")
    assert saved == [3, 6]


def test_checkpoints_are_due_by_time_too(monkeypatch):
    cfg = config.with_overrides(
        config.load("pix2pix-unet"), ["train.steps=100000", "train.ckpt_every=5000"]
    ).train
    assert cfg.ckpt_minutes == 10
    now = [1000.0]
    monkeypatch.setattr(resume.time, "monotonic", lambda: now[0])
    schedule = resume.CheckpointSchedule(cfg, distributed_run=False)
    assert not schedule.due(7)
    now[0] += 10 * 60 + 1
    assert schedule.due(8)  # ten minutes since the last one: now, whatever the step
    schedule.saved()
    assert not schedule.due(9)
    assert schedule.due(5000)
    off = resume.CheckpointSchedule(
        config.with_overrides(config.load("pix2pix-unet"), ["train.ckpt_minutes=0"]).train, False
    )
    now[0] += 3600
    assert not off.due(7)
    with pytest.raises(ColorganError, match="ckpt_minutes"):
        config.with_overrides(config.load("pix2pix-unet"), ["train.ckpt_minutes=-1"])


def test_checkpoint_folder_has_a_manifest_of_every_file(finished_run):
    ckpt = finished_run / "checkpoints" / "step_00000004"
    listed = json.loads((ckpt / checkpoint.MANIFEST).read_text())["files"]
    on_disk = {p.name for p in ckpt.iterdir()} - {checkpoint.MANIFEST}
    assert set(listed) == on_disk and set(LOADED) <= on_disk
    assert all(listed[n]["bytes"] == (ckpt / n).stat().st_size for n in listed)
    assert checkpoint.verify(ckpt) is None


def test_ctrl_c_checkpoints_between_steps_and_resume_goes_on(photo_dir, tmp_path, capsys):
    """Ctrl-C in the middle of a step is held to the step's end, and the run is checkpointed
    there (not only at the last periodic checkpoint); --resume goes on from that step."""
    import os
    import signal

    real, saved = train.train_step, []

    def interrupted_at_step_3(parts, rgb, stage, step=0):
        if step == 2:  # the third step: Ctrl-C arrives while it runs
            os.kill(os.getpid(), signal.SIGINT)
        return real(parts, rgb, stage, step)

    def record(parts, out, step, save=resume.save):
        saved.append(step)
        save(parts, out, step)

    out = tmp_path / "run"
    cfg = tiny_cfg(photo_dir, "train.steps=6", "train.ckpt_every=4")
    # Python's own Ctrl-C handler, whatever an earlier test in this process left installed
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(train, "train_step", interrupted_at_step_3)
            mp.setattr(resume, "save", record)
            with pytest.raises(KeyboardInterrupt):
                train.run(cfg, out)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert saved == [3]  # the step the Ctrl-C came in finished, then the checkpoint
    assert "interrupted at step 3, checkpointed" in capsys.readouterr().out
    assert modelfile.latest_checkpoint(out).name == "step_00000003"
    assert resume_cli(out, 6) == 0
    steps = [json.loads(x)["step"] for x in (out / "log.jsonl").read_text().splitlines()]
    assert [s for s in steps if s > 3] and min(s for s in steps if s > 3) == 4
