import json
import shutil
from argparse import Namespace

import pytest

from colorgan.core.errors import ColorganError
from colorgan.evaluation import experiments
from colorgan.interfaces.cli import main
from colorgan.training import folders

from .conftest import TINY, make_photo

pytestmark = pytest.mark.integration  # CONTRIBUTING.md: the test tiers

# conftest.TINY, the tests' one tiny model, but at the size --size gives (a --set would win)
MODEL = [s for s in TINY if not s.startswith("data.size=")]
TRAINING = [  # after MODEL
    "data.workers=0",
    "data.val_fraction=0.3",
    "train.ckpt_every=2",
    "train.log_every=1",
    "train.sample_every=100",
]


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    for i in range(10):
        sub = root / f"g{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        make_photo(200 + i).save(sub / f"img{i}.png")
    return root


def suite_args(photos, out, *extra):
    args = [
        "experiments",
        "--preset",
        "pix2pix-unet",
        "--preset",
        "rgb-unet",
        "--data",
        str(photos),
        "--out",
        str(out),
        "--size",
        "32",
        "--batch-size",
        "2",
        "--skip",
        "lpips",
        "--skip",
        "fid",
        "--grid",
        "2",
    ]
    for s in [*MODEL, *TRAINING]:
        args += ["--set", s]
    return args + list(extra)


def namespace(photos, out, **kw):
    base = dict(
        suite="literature",
        preset=["pix2pix-unet"],
        data=str(photos),
        out=str(out),
        size=32,
        batch_size=2,
        device=None,
        set=[*MODEL, *TRAINING],
        steps=None,
        minutes=None,
    )
    return Namespace(**{**base, **kw})


def test_suite_end_to_end_then_resume_then_skip(photos, tmp_path, capsys):
    out = tmp_path / "suite"
    assert main(suite_args(photos, out, "--steps", "2", "--dry-run")) == 0
    assert "pix2pix-unet" in capsys.readouterr().out and not out.exists()

    # throughput and FD are tested in test_evaluate.py; here they only cost time
    fast = ["--skip", "throughput", "--skip", "fd_mobilenetv2"]
    assert main(suite_args(photos, out, "--steps", "2", *fast, "--no-checkpoint-curves")) == 0
    # a bigger budget resumes both runs from their step-2 checkpoints
    assert main(suite_args(photos, out, "--steps", "4", *fast)) == 0
    report = (out / "report.md").read_text()
    assert "| pix2pix-unet | unet | 4 | - | resumed at step 2 |" in report
    assert "| rgb-unet | unet | 4 | - | resumed at step 2 |" in report
    for name in [
        "plan.json",
        "commands.md",
        "eval_files.txt",
        "loss_curves.png",
        "val_curves.png",
        "checkpoint_curves.png",
    ]:
        assert (out / name).is_file(), name
    for name in ["report.md", "report.json", "per_image.csv", "grid.png"]:
        assert (out / "eval" / name).is_file(), name
    evaluation = json.loads((out / "eval" / "report.json").read_text())
    assert [m["name"] for m in evaluation["models"]] == ["gray", "pix2pix-unet", "rgb-unet"]
    assert evaluation["models"][1]["metrics"]["mae_ab"] > 0
    assert evaluation["models"][2]["info"]["color_space"] == "rgb"
    # the evaluated images are the validation split, never a training image
    evaluated = [line for line in (out / "eval_files.txt").read_text().splitlines()]
    cfg = experiments.build_runs(namespace(photos, out, steps=4))[0].cfg
    split = folders.scan_folder(cfg.data)
    assert evaluated == [str(p) for p in split.val] and evaluated
    assert not set(evaluated) & {str(p) for p in split.train}
    commands = (out / "commands.md").read_text()
    assert "colorgan train --preset rgb-unet" in commands and "--steps 4" in commands
    assert f"--data {out / 'eval_files.txt'}" in commands

    # everything finished: a rerun trains nothing (the checkpoints stay as they were)
    ckpt = out / "runs" / "pix2pix-unet" / "checkpoints" / "step_00000004"
    mtime = ckpt.stat().st_mtime_ns
    assert main(suite_args(photos, out, "--steps", "4", *fast, "--no-checkpoint-curves")) == 0
    assert (
        "| pix2pix-unet | unet | 4 | - | finished earlier (4 steps) |"
        in (out / "report.md").read_text()
    )
    assert ckpt.stat().st_mtime_ns == mtime


def test_minutes_become_recorded_steps(photos, tmp_path, monkeypatch):
    args = namespace(photos, tmp_path / "suite", minutes=0.05)
    plan = experiments.make_plan(args)
    seconds = plan["seconds_per_step"]["pix2pix-unet"]
    assert seconds > 0
    assert plan["steps"]["pix2pix-unet"] == max(1, int(3.0 / seconds))
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "plan.json").write_text(json.dumps(plan))

    def no_remeasuring(cfg):
        raise AssertionError("a recorded plan must be reused")

    monkeypatch.setattr(experiments, "measure_step_seconds", no_remeasuring)
    assert experiments.make_plan(args) == plan


def test_eval_folder_copies_of_training_images_are_left_out(photos, tmp_path):
    eval_dir = tmp_path / "held_out"
    eval_dir.mkdir()
    make_photo(999).save(eval_dir / "new.png")
    runs = experiments.build_runs(namespace(photos, tmp_path / "suite", steps=2))
    train_file = folders.scan_folder(runs[0].cfg.data).train[0]
    shutil.copy(train_file, eval_dir / "renamed_copy.png")
    files, how, dropped = experiments.held_out_images(runs, str(eval_dir))
    assert files == [eval_dir / "new.png"]
    assert dropped == [str(eval_dir / "renamed_copy.png")]
    assert "1 byte-identical to a training file" in how
    shutil.rmtree(eval_dir)
    eval_dir.mkdir()
    shutil.copy(train_file, eval_dir / "only_copy.png")
    with pytest.raises(ColorganError, match="also a training image"):
        experiments.held_out_images(runs, str(eval_dir))


def test_changed_config_is_not_resumed(photos, tmp_path):
    args = namespace(photos, tmp_path / "suite", steps=2)
    run = experiments.build_runs(args)[0]
    run.out.mkdir(parents=True)
    (run.out / "config.yaml").write_text(run.cfg.to_yaml())
    experiments._check_same_experiment(run)  # the same config: fine
    other = experiments.build_runs(namespace(photos, tmp_path / "suite", steps=2, size=48))[0]
    with pytest.raises(ColorganError, match="another config"):
        experiments._check_same_experiment(other)


def test_read_log_keeps_the_last_record_of_a_step(tmp_path):
    lines = [
        {"step": 1, "kind": "train", "g_l1": 5.0, "img_per_s": 3.0},
        {"step": 2, "kind": "train", "g_l1": 4.0},
        {"step": 2, "kind": "val", "val_l1": 0.5},
        {"step": 2, "kind": "train", "g_l1": 3.5},  # logged again after a resume
    ]
    text = "".join(json.dumps(x) + "\n" for x in lines) + '{"step": 3, "ki'  # cut by a kill
    (tmp_path / "log.jsonl").write_text(text)
    log = experiments.read_log(tmp_path)
    assert log["train"] == {"g_l1": ([1, 2], [5.0, 3.5])}
    assert log["val"] == {"val_l1": ([2], [0.5])}


def test_a_failing_preset_does_not_stop_the_others(photos, tmp_path, monkeypatch):
    args = namespace(photos, tmp_path / "suite", steps=1, preset=["pix2pix-unet", "rgb-unet"])
    calls = []

    def fake_run(cfg, out, resume=False):
        calls.append(cfg.preset)
        if cfg.preset == "pix2pix-unet":
            raise ColorganError("ImageNet weights for vgg16 are not available")

    monkeypatch.setattr(experiments.train_mod, "run", fake_run)
    status = experiments.train_all(experiments.build_runs(args))
    assert calls == ["pix2pix-unet", "rgb-unet"]
    assert status == {
        "pix2pix-unet": "failed: ImageNet weights for vgg16 are not available",
        "rgb-unet": "trained",
    }
