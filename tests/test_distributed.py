"""Distributed training on CPU: torchrun with 2 processes on the gloo backend, then a
single-process resume of that run (world size 2 -> 1)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from colorgan.core import config
from colorgan.core.errors import ColorganError
from colorgan.io import modelfile
from colorgan.models import generator_from_config, list_generators
from colorgan.training import data, distributed, train

from .conftest import TINY, make_photo

pytestmark = pytest.mark.integration  # CONTRIBUTING.md: the test tiers

WORKER = Path(__file__).with_name("ddp_worker.py")
TRAINING = {  # after conftest.TINY, the tests' one tiny model
    "train.batch_size": 4,  # global: 2 images per process
    "data.workers": 0,
    "data.val_fraction": 0.25,
    "train.log_every": 1,
    "train.sample_every": 2,
    "train.ckpt_every": 2,
    "train.pretrain_fraction": 0.25,  # step 1 L1 only, then GAN steps (D in DDP too)
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """4 steps of 2-process DDP training through `torchrun -m`-style launching of the CLI."""
    root = tmp_path_factory.mktemp("ddp")
    photos, out, record = root / "photos", root / "run", root / "record"
    photos.mkdir(), record.mkdir()
    for i in range(12):
        make_photo(i).save(photos / f"img{i}.png")
    sets = [a for s in TINY for a in ("--set", s)]
    sets += [a for k, v in TRAINING.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        str(WORKER),
        "train",
        "--preset",
        "pix2pix-unet",
        "--data",
        str(photos),
        "--out",
        str(out),
        "--steps",
        "4",
        "--device",
        "cpu",
        *sets,
    ]
    env = {**os.environ, "COLORGAN_TEST_RECORD": str(record), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, record, done


def test_two_processes_train_one_model(ddp_run):
    out, record, done = ddp_run
    assert "global batch 4 = 2 processes x 2" in done.stderr + done.stdout
    # both ranks end with the same parameters: DDP averaged every gradient
    rank1 = load_file(str(record / "rank1.safetensors"))
    rank0 = {f"generator.{k}": v for k, v in load_file(str(out / "generator.safetensors")).items()}
    disc = load_file(str(modelfile.latest_checkpoint(out) / "discriminator.safetensors"))
    rank0.update({f"discriminator.{k}": v for k, v in disc.items()})
    assert rank1 and all(torch.equal(rank1[k], rank0[k]) for k in rank1)
    # one writer: rank 0 wrote each checkpoint once, one log line per step
    assert (record / "saves.txt").read_text().split("\n")[:-1] == ["0 2", "0 4"]
    records = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3, 4]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "latest",
        "step_00000002",
        "step_00000004",
    ]
    state = json.loads((out / "checkpoints" / "step_00000004" / "state.json").read_text())
    assert (state["step"], state["images_seen"], state["world_size"]) == (4, 16, 2)
    assert "rank1.rng_python" in state  # rank 1's RNG is kept for an exact resume


def test_resume_two_process_run_in_one_process(ddp_run):
    out, _, _ = ddp_run
    cfg = config.with_overrides(config.load(str(out / "config.yaml")), {"train.steps": 6})
    before = load_file(str(out / "generator.safetensors"))
    final = train.run(cfg, out, resume=True)
    records = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert modelfile.latest_checkpoint(out).name == "step_00000006"
    state = json.loads((out / "checkpoints" / "step_00000006" / "state.json").read_text())
    assert (state["images_seen"], state["world_size"]) == (24, 1)
    after = load_file(str(final))
    assert any(not torch.equal(before[k], after[k]) for k in after)  # it trained on


def test_a_step_sees_the_same_images_for_any_number_of_processes():
    """With a global batch B, step s takes items [s*B, (s+1)*B) of the epoch's order, with
    the same crop seeds, whether one process takes them or several share them: this is
    what makes the step counter a well-defined data position across a world-size change."""
    n, batch, seed = 23, 4, 7
    per_epoch = n // batch

    def step_items(world: int, step: int) -> set:
        epoch, within = divmod(step, per_epoch)
        items = set()
        for rank in range(world):
            sampler = data.EpochSampler(n, seed, rank, world)
            sampler.set_epoch(epoch, within * batch // world)
            items.update(list(sampler)[: batch // world])
        return items

    for step in range(2 * per_epoch):
        assert step_items(1, step) == step_items(2, step) == step_items(4, step)


def test_global_batch_must_split_evenly():
    assert distributed.global_batch_split(16, 4) == 4
    with pytest.raises(ColorganError, match="batch_size=6 is the global batch.*4 processes"):
        distributed.global_batch_split(6, 4)


def test_amp_choice_on_cpu():
    cpu = torch.device("cpu")
    assert train.amp_dtype("auto", cpu) is None and train.amp_dtype("off", cpu) is None
    assert train.amp_dtype("bf16", cpu) is torch.bfloat16
    with pytest.raises(ColorganError, match="fp16 needs CUDA"):
        train.amp_dtype("fp16", cpu)
    # YAML 1.1 reads `off` as False and old configs hold a bool
    cfg = config.with_overrides(config.load("pix2pix-unet"), ["train.amp=off"])
    assert cfg.train.amp == "off"
    assert config.from_dict({"train": {"amp": True}}).train.amp == "auto"


@pytest.mark.parametrize("name", list_generators())
def test_every_trainable_parameter_gets_a_gradient(name):
    """DDP runs with find_unused_parameters=False: a parameter left out of the loss would
    stall its gradient all-reduce, so every generator must use all of its parameters."""
    cfg = config.with_overrides(
        config.load("pix2pix-unet"), {"model.generator": name, "model.width": 4}
    )
    generator = generator_from_config(cfg.model, 32, load_pretrained=False)
    generator(torch.rand(2, 1, 32, 32) * 2 - 1).square().mean().backward()
    unused = [k for k, p in generator.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused
