"""Speed beside four published colorizers, measured side by side in one run: one markdown table.

    python benchmarks/peers.py                      # every subject, 5 rounds
    python benchmarks/peers.py --rounds 9 --only colorgan-int8,colorgan-fp32,eccv16

Subjects (--only picks some; each row says the command that reproduces it):
  colorgan-int8, colorgan-fp32   a 512 px JPEG end to end in a warm process (read_image,
         Colorizer.colorize, write_image) with the bundled model, its int8 network and its
         float32 one (as benchmarks/speed.py --sections photo512).
  colorgan-net-int8, colorgan-net-fp32   the bundled model's network alone: one call of the
         runner's network pass (ModelRunner._forward: the ONNX Runtime session, the runner's
         padding) on that photo's 256 x 256 working L.
  eccv16, siggraph17, ddcolor-tiny, deoldify-artistic   the networks of Zhang et al. ECCV 2016
         and SIGGRAPH 2017 (256 px; SIGGRAPH17 with its ab hints and mask, empty), DDColor-tiny
         (512 px) and DeOldify "artistic" (560 px: its default render_factor 35 x 16) alone,
         at the sizes their authors run them: PyTorch on the CPU, 2 threads, eval(),
         inference_mode, batch 1, RANDOM weights (no trained weights can be fetched offline;
         a forward's time does not depend on them). Rebuilt in benchmarks/peer_nets.py, whose
         docstring names the authors' files followed, their models' parameter counts and what
         differs; each one's count is printed here beside the authors'.
Each subject runs in its own child process, built and warmed up (one call) before any timing;
then round by round every subject makes one untimed and one timed call, one subject at a
time, so each sees the same machine and is warm when timed; the table has the medians over
--rounds. The last column divides each
median by colorgan-int8's (above 1: slower than colorgan's whole 512 px photo).
Timings are wall seconds. On a machine shared with other jobs they move with the load
(printed at start and end); the ratios, measured in alternating rounds, move less.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from inference import make_photo  # benchmarks/inference.py (scripts run from this folder)

COMMAND = "python benchmarks/peers.py"
REFERENCE = "colorgan-int8"  # the last column's denominator
TAG = "PEERS"  # the children's protocol lines start with it: a library's print is skipped
PEER_THREADS = 2

# name: (what, input); the table's rows in this order
SUBJECTS = {
    "colorgan-int8": ("colorgan, end to end, int8", "512 px JPEG file"),
    "colorgan-fp32": ("colorgan, end to end, fp32", "512 px JPEG file"),
    "colorgan-net-int8": ("colorgan network alone, int8 (ONNX Runtime)", "L 256 x 256"),
    "colorgan-net-fp32": ("colorgan network alone, fp32 (ONNX Runtime)", "L 256 x 256"),
    "eccv16": ("Zhang et al. ECCV16 network alone", "L 256 x 256"),
    "siggraph17": ("Zhang et al. SIGGRAPH17 network alone", "L + ab hints + mask, 256 x 256"),
    "ddcolor-tiny": ("DDColor-tiny network alone", "gray RGB 512 x 512"),
    "deoldify-artistic": ('DeOldify "artistic" network alone', "gray RGB 560 x 560"),
}


# --- in a child: build one subject, then time it on demand ---------------------------------


def colorgan_job(precision: str, network_only: bool, photo: Path, out: Path):
    """colorgan's call for a subject: (job, None), no parameter counts (an ONNX model)."""
    from colorgan.core import fastcolor
    from colorgan.io import images
    from colorgan.pipeline.colorizer import Colorizer
    from colorgan.pipeline.geometry import working_l

    colorizer = Colorizer.load("default", precision=precision)
    runner = colorizer.model
    # the input the runner gives the network for this photo: its L at the working size
    L = fastcolor.lightness(images.read_image(photo).pixels)
    x = working_l(L, runner.working_size)[None]

    def end_to_end():
        images.write_image(out, colorizer.colorize(images.read_image(photo)), overwrite=True)

    def network():
        runner._forward(x)

    return (network if network_only else end_to_end), None


def peer_job(name: str):
    """A peer network's forward on its example input at the authors' size: (job, (its
    parameter count, the authors' model's))."""
    import peer_nets
    import torch

    torch.set_num_threads(PEER_THREADS)
    # random weights can drive activations into denormals, which trained ones would not
    # and which x86 CPUs compute many times slower: flushed, the time is the network's
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    cls, size, theirs = peer_nets.PEERS[name]
    net, inputs = cls().eval(), cls.example(size)

    def job():
        with torch.inference_mode():
            net(*inputs)

    return job, (peer_nets.parameters(net), theirs)


def child(name: str, photo: Path, out: Path) -> None:
    """Build, warm up, say ready (with the parameter counts), then one timed call per line
    read from stdin, each answered with its wall seconds; ends at EOF. Each timed call comes
    right after an untimed one: the other subjects' turns (seconds, for the big peers) left
    a process idle long enough to go cold (colorgan's 512 px photo took 0.071 s after them,
    0.038-0.040 s beside its own network or ECCV16 alone)."""
    if name.startswith("colorgan"):
        precision = name.rsplit("-", 1)[1]
        job, params = colorgan_job(precision, "-net-" in name, photo, out)
    else:
        job, params = peer_job(name)
    job()  # warm-up: thread pools, ONNX Runtime's arena, oneDNN's kernels for these shapes
    print(TAG, *(params or ("-", "-")), flush=True)
    while sys.stdin.readline():
        job()  # warm again after the others' turns (see above)
        start = time.perf_counter()
        job()
        print(TAG, f"{time.perf_counter() - start:.6f}", flush=True)


# --- in the parent: one child per subject, rounds interleaved -------------------------------


class Child:
    """A subject's warm process; its stderr goes to a file, shown if it fails."""

    def __init__(self, name: str, tmp: Path, photo: Path) -> None:
        self.name = name
        self.log = open(tmp / f"{name}.stderr", "w+")  # closed by close()
        cmd = [sys.executable, __file__, "--child", name, "--photo", str(photo)]
        cmd += ["--out", str(tmp / f"{name}.jpg")]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        ours, theirs = self.answer()  # waits for its build and warm-up
        self.params = None if ours == "-" else (int(ours), int(theirs))

    def answer(self) -> list[str]:
        for line in self.proc.stdout:
            if line.startswith(TAG + " "):
                return line.split()[1:]
        self.log.seek(0)
        raise SystemExit(f"{self.name}: its process ended early:\n{self.log.read()[-3000:]}")

    def time(self) -> float:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return float(self.answer()[0])

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()  # EOF: the child returns
        self.proc.wait(timeout=60)
        self.log.close()


def measure(names: list[str], rounds: int, tmp: Path) -> tuple[dict, dict]:
    """Each subject's median seconds, and its parameter counts (ours, the authors'; None
    for colorgan)."""
    photo = tmp / "photo512.jpg"
    make_photo(photo, 512, 512)  # benchmarks/speed.py's 512 px test photo
    children: dict[str, Child] = {}
    try:
        for name in names:  # one at a time: no warm-up competes with another's
            children[name] = Child(name, tmp, photo)
        times: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(rounds):
            for name, each in children.items():
                times[name].append(each.time())
    finally:
        for each in children.values():
            each.close()
    medians = {name: statistics.median(t) for name, t in times.items()}
    return medians, {name: each.params for name, each in children.items()}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(package: str) -> str:
    """A package's installed version, without importing it (torch takes seconds)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def table(names: list[str], medians: dict, rounds: int) -> None:
    print(
        "| subject | input | median s | vs colorgan 512 end to end (int8) | command |\n"
        "|---|---|---:|---:|---|"
    )
    reference = medians.get(REFERENCE)
    for name in names:
        what, given = SUBJECTS[name]
        ratio = f"{medians[name] / reference:.2f}x" if reference else "-"
        only = name if name == REFERENCE else f"{REFERENCE},{name}"
        cmd = f"{COMMAND} --only {only} --rounds {rounds}"
        print(f"| {what} | {given} | {medians[name]:.3f} | {ratio} | `{cmd}` |")


def notes(names: list[str], params: dict, rounds: int) -> None:
    print(
        f"\n{rounds} interleaved round{'s' * (rounds != 1)}, each subject in its own warm "
        "process (an untimed call right before each timed one), medians. "
        f"Peers: their networks alone, PyTorch {version('torch')} on the CPU, "
        f"{PEER_THREADS} threads, eval, inference_mode, batch 1, with RANDOM weights (no "
        "trained weights are available offline; the time of a forward does not depend on "
        "them), rebuilt from the authors' code in benchmarks/peer_nets.py. colorgan: its "
        f"bundled model, ONNX Runtime {version('onnxruntime')} (one thread per core); end "
        "to end = read, colour, write the JPEG; network alone = the 256 px working pass."
    )
    for name in names:
        if params[name]:
            ours, theirs = params[name]
            print(f"- {name}: {ours:,} parameters; the authors' model: {theirs:,}")
    if "siggraph17" in names:
        print(
            "- siggraph17: timed as the paper draws it; the authors' PyTorch forward computes "
            "its conv9-conv10 tail twice (the second result overwriting the first), about "
            "a third more multiply-adds at 256 px, so their code as published is slower."
        )
    if {"ddcolor-tiny", "deoldify-artistic"} & set(names):
        print(
            "- ddcolor-tiny, deoldify-artistic: encoders from torchvision (convnext_tiny, "
            "resnet34) and torch's spectral / weight norm parametrizations; with the authors' "
            "weights loaded, the outputs matched their code's (benchmarks/peer_nets.py)."
        )
    if REFERENCE not in names:
        print(f"- no ratios: add {REFERENCE} to --only")


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default=",".join(SUBJECTS), help=", ".join(SUBJECTS))
    # a subject's own process (started by this script)
    parser.add_argument("--child", choices=SUBJECTS, help=argparse.SUPPRESS)
    parser.add_argument("--photo", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.photo, args.out)
        return
    chosen = set(args.only.split(","))
    unknown = chosen - set(SUBJECTS)
    if unknown:
        raise SystemExit(f"unknown subjects {sorted(unknown)}; valid: {', '.join(SUBJECTS)}")
    if args.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    names = [name for name in SUBJECTS if name in chosen]
    print(
        f"CPU: {cpu_name()}, {os.cpu_count()} cores; python {platform.python_version()}; "
        f"torch {version('torch')}; onnxruntime {version('onnxruntime')}; "
        f"load average at start {os.getloadavg()[0]:.1f}\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        medians, params = measure(names, args.rounds, Path(tmp))
    table(names, medians, args.rounds)
    notes(names, params, args.rounds)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
