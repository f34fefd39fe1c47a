"""Speed against fixed floors, each ratio measured side by side in one run: one markdown table.

    python benchmarks/speed.py                       # every section, the default model
    python benchmarks/speed.py --sections photo,cold --rounds 7
    python benchmarks/speed.py --sections photo512 --rounds 15 --precisions int8,fp32

Sections (each row says what it compares and the command that reproduces it):
  photo512  a 512 px JPEG end to end in a warm process (read_image, Colorizer.colorize,
         write_image), with each of --precisions (the int8 network and float32: one
         Colorizer each), against Pillow decoding and encoding the same JPEG; rounds
         interleaved, so the int8 / float32 ratio is side by side.
  photo  12 MP JPEG end to end in a warm process, each of --precisions, against Pillow
         decoding and encoding the same JPEG (quality 95, as write_image), rounds
         interleaved; and the CLI's peak memory (VmHWM) on that photo, in a fresh process
         (precision auto). Inputs: a colour (RGB) photo-like JPEG and a gray one (a B&W scan).
  cold   `colorgan colorize photo512.jpg` in a fresh process, ONNX export already cached,
         against `python -c "import onnxruntime, PIL.Image"`, rounds interleaved, medians.
  stages the colour 12 MP photo's time per pipeline step (best of --rounds, warm): where
         the end-to-end time of "photo" goes.
  batch  a folder of --photos 1 MP JPEGs: one `colorgan colorize DIR` run against the sum of
         one `colorgan colorize PHOTO` run per photo; and, in a warm process, the CLI's
         overlapped batch (read / network / write on three threads) against the same photos
         one after another (Colorizer.colorize + write_image).
Video frames/s: benchmarks/video_speed.py.
Timings are wall seconds, medians of --rounds. On a machine shared with other jobs they move
with the load (printed); the ratios, measured in alternating rounds, move much less.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import peak_rss_mb  # benchmarks/common.py (scripts run from this folder)
from inference import make_photo
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "castle_clinton_1961.jpg"
SECTIONS = ("photo512", "photo", "stages", "cold", "batch")
COMMAND = "python benchmarks/speed.py"


def row(what: str, ours: float, floor_name: str, floor: float, unit: str, cmd: str) -> None:
    """One table row; ratio: colorgan's time over the other one's (below 1: faster)."""
    ratio = f"{ours / floor:.2f}x" if floor else "-"
    print(f"| {what} | {ours:.3f} {unit} | {floor_name} {floor:.3f} {unit} | {ratio} | `{cmd}` |")


def gray_photo(path: Path, size=(4000, 3000)) -> None:
    """The bundled B&W example scaled to 12 MP, saved as a gray JPEG (a scanned print)."""
    Image.open(EXAMPLE).convert("L").resize(size, Image.BICUBIC).save(path, quality=92)


def interleaved(jobs: dict, rounds: int, pick=statistics.median) -> dict[str, float]:
    """Median (or `pick`) wall seconds of each job, the jobs alternating round by round."""
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            times[name].append(time.perf_counter() - start)
    return {name: pick(t) for name, t in times.items()}


# --- photo: end to end against decode + encode ----------------------------------------------


def colorizers(args) -> dict:
    """One Colorizer per precision of --precisions."""
    from colorgan.pipeline.colorizer import Colorizer

    return {
        p: Colorizer.load(args.model, backend=args.backend, precision=p)
        for p in args.precisions.split(",")
    }


def end_to_end(src: Path, out: Path, what: str, floor_name: str, args) -> None:
    """Rows: `what` end to end with each precision against Pillow decode + encode of src."""
    from colorgan.io import images

    def floor():
        im = Image.open(src)
        im.load()
        im.save(io.BytesIO(), "JPEG", quality=95)

    jobs = {"floor": floor}
    for precision, colorizer in colorizers(args).items():

        def ours(colorizer=colorizer):
            images.write_image(out, colorizer.colorize(images.read_image(src)), overwrite=True)

        ours()  # warm-up: thread pools, tables, ONNX session
        jobs[precision] = ours
    t = interleaved(jobs, args.rounds)
    for precision in jobs:
        if precision != "floor":
            row(
                f"{what}, end to end, warm process, {precision}",
                t[precision],
                floor_name,
                t["floor"],
                "s",
                f"{COMMAND} --sections {args.section} --rounds {args.rounds}",
            )


def photo512_section(tmp: Path, args) -> None:
    src = tmp / "photo512.jpg"
    make_photo(src, 512, 512)
    end_to_end(src, tmp / "photo512_color.jpg", "512 px JPEG", "Pillow decode + encode", args)


def photo_section(tmp: Path, args) -> None:
    for label, make in (("colour", make_photo), ("gray", gray_photo)):
        src = tmp / f"photo12_{label}.jpg"
        make(src, 3000, 4000) if make is make_photo else make(src)
        out = tmp / f"photo12_{label}_color.jpg"
        end_to_end(src, out, f"12 MP {label} JPEG", "Pillow decode + encode", args)
        peak = cli_peak_mb(src, tmp / "cli_out", args)
        print(
            f"| 12 MP {label} JPEG, CLI peak memory (VmHWM) | {peak:.0f} MB | - | - | "
            f"`{COMMAND} --sections photo` |",
            flush=True,
        )


def stages_section(tmp: Path, args) -> None:
    from colorgan.core import fastcolor
    from colorgan.io import images
    from colorgan.pipeline.colorizer import Colorizer

    colorizer = Colorizer.load(args.model, backend=args.backend)
    src, out = tmp / "stages12.jpg", tmp / "stages12_color.jpg"
    make_photo(src, 3000, 4000)
    photo = images.read_image(src)
    L = fastcolor.lightness(photo.pixels)
    ab = colorizer.colour(L)
    rgb = colorizer.compose(L, ab)
    image = images.to_pil(rgb, photo)
    stages = {
        "read (decode + array)": lambda: images.read_image(src),
        "lightness": lambda: fastcolor.lightness(photo.pixels),
        "network with its input": lambda: colorizer.colour(L),
        "compose (Lab -> sRGB)": lambda: colorizer.compose(L, ab),
        "to PIL": lambda: images.to_pil(rgb, photo),
        "encode + write": lambda: images.write_image(out, image, overwrite=True),
    }
    for name, best in interleaved(stages, args.rounds, pick=min).items():
        what = f"12 MP colour JPEG, stage: {name} ({colorizer.precision})"
        print(f"| {what} | {best:.3f} s | - | - | `{COMMAND} --sections stages` |", flush=True)
    if colorizer.head == "distribution":
        decoding_rows(colorizer, L, args.rounds)


def decoding_rows(colorizer, L, rounds: int) -> None:
    """The decoding's share of "network with its input": with spatial context, less colour
    where unsure and skin (colorgan.pipeline.decode) against the plain annealed mean."""
    from colorgan.core import abbins, color
    from colorgan.pipeline import decode, options
    from colorgan.pipeline.geometry import working_l

    x = working_l(L, colorizer.working_size)[None]
    logits, L_work = colorizer.model.forward(x), color.denormalize_l(x[:, 0])
    t, v = colorizer.temperature, options.DEFAULT_VIVIDNESS
    jobs = {
        "decode": lambda: decode.decode(logits, L_work, t, v),
        "annealed": lambda: abbins.annealed_mean(logits, t),
    }
    best = interleaved(jobs, rounds, pick=min)
    what = "12 MP colour JPEG, decoding the logits with spatial context (pipeline/decode.py)"
    row(
        what,
        best["decode"],
        "annealed mean alone",
        best["annealed"],
        "s",
        f"{COMMAND} --sections stages",
    )


CLI_PEAK = """
import sys
from colorgan.interfaces.cli import main
sys.path.insert(0, sys.argv.pop(1))
from common import peak_rss_mb
rc = main(sys.argv[1:])
print("PEAK", peak_rss_mb(), rc)
"""


def cli_peak_mb(src: Path, out: Path, args) -> float:
    cmd = [sys.executable, "-c", CLI_PEAK, str(Path(__file__).parent), "colorize", str(src)]
    cmd += ["--output", str(out), "--overwrite", "--model", args.model, "--backend", args.backend]
    run = subprocess.run(cmd, capture_output=True, text=True)
    line = next((x for x in run.stdout.splitlines() if x.startswith("PEAK")), None)
    if run.returncode != 0 or line is None or line.split()[2] != "0":
        raise SystemExit(f"CLI run failed ({' '.join(cmd)}):\n{run.stdout}\n{run.stderr}")
    return float(line.split()[1])


# --- cold: CLI start to finish against importing its two libraries ----------------------------


def cli_script() -> Path:
    """The `colorgan` console script of this interpreter (not a pyenv shim, whose bash adds
    ~0.1 s that is not colorgan's)."""
    script = Path(sys.executable).with_name("colorgan")
    if not script.is_file():
        raise SystemExit(f"{script}: no colorgan script beside {sys.executable}; pip install -e .")
    return script


def cold_section(tmp: Path, args) -> None:
    src = tmp / "photo512.jpg"
    make_photo(src, 512, 512)
    cmd = [str(cli_script()), "colorize", str(src), "--output", str(tmp / "cold"), "--overwrite"]
    cmd += ["--model", args.model, "--backend", args.backend]
    floor = [sys.executable, "-c", "import onnxruntime, PIL.Image"]
    subprocess.run(cmd, check=True, capture_output=True)  # caches the ONNX export
    t = interleaved(
        {
            "floor": lambda: subprocess.run(floor, check=True),
            "ours": lambda: subprocess.run(cmd, check=True, capture_output=True),
        },
        args.rounds,
    )
    row(
        "`colorgan colorize photo512.jpg`, cold process, ONNX export cached",
        t["ours"],
        '`python -c "import onnxruntime, PIL.Image"`',
        t["floor"],
        "s",
        f"{COMMAND} --sections cold --rounds {args.rounds}",
    )


# --- batch: a folder at once against photo by photo ------------------------------------------


def batch_section(tmp: Path, args) -> None:
    folder = tmp / "album"
    folder.mkdir()
    make_photo(folder / "p000.jpg", 768, 1024)
    for i in range(1, args.photos):  # the same photo under many names: same work each
        (folder / f"p{i:03d}.jpg").write_bytes((folder / "p000.jpg").read_bytes())
    photos = sorted(folder.iterdir())
    base = [str(cli_script()), "colorize", "--overwrite", "--model", args.model]
    base += ["--backend", args.backend]
    # a first run caches the ONNX export
    subprocess.run(
        [*base, str(photos[0]), "--output", str(tmp / "warm")], check=True, capture_output=True
    )
    start = time.perf_counter()
    subprocess.run(
        [*base, str(folder), "--output", str(tmp / "batch")], check=True, capture_output=True
    )
    batch = time.perf_counter() - start
    start = time.perf_counter()
    for photo in photos:
        subprocess.run(
            [*base, str(photo), "--output", str(tmp / "single")], check=True, capture_output=True
        )
    singles = time.perf_counter() - start
    row(
        f"{len(photos)} photos of 1 MP: `colorgan colorize DIR`",
        batch,
        f"sum of {len(photos)} `colorgan colorize PHOTO` runs",
        singles,
        "s",
        f"{COMMAND} --sections batch --photos {len(photos)}",
    )
    warm_batch(photos, tmp, args)


def warm_batch(photos: list[Path], tmp: Path, args) -> None:
    """The CLI's overlapped batch against the same work one photo after another, in this
    process (start-up left out), rounds interleaved."""
    from types import SimpleNamespace

    from colorgan.interfaces.colorize import FileJob, run_jobs
    from colorgan.io import images
    from colorgan.pipeline.colorizer import Colorizer

    colorizer = Colorizer.load(args.model, backend=args.backend)
    guide = colorizer.guide()
    options = SimpleNamespace(
        max_pixels=None,
        vividness=None,
        saturation=1.0,
        tile=None,
        stride=None,
        mode=None,
        overwrite=True,
    )
    jobs = [FileJob(p, tmp / "warm_out" / f"{p.stem}_color.jpg") for p in photos]

    def overlapped():
        done, errors, _ = run_jobs(jobs, colorizer, guide, options)
        assert done == len(jobs) and not errors, errors

    def one_by_one():
        for job in jobs:
            images.write_image(job.out, colorizer.colorize(job.src), overwrite=True)

    one_by_one()  # warm-up (and the output folder)
    t = interleaved({"one_by_one": one_by_one, "overlapped": overlapped}, max(1, args.rounds // 2))
    row(
        f"{len(photos)} photos of 1 MP, warm process: overlapped batch",
        t["overlapped"],
        "one after another",
        t["one_by_one"],
        "s",
        f"{COMMAND} --sections batch --photos {len(photos)}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--backend", default="auto", help="auto (the CLI's), torch or onnx")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=", ".join(SECTIONS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--photos", type=int, default=50, help="batch section: how many")
    parser.add_argument(
        "--precisions", default="int8,fp32", help="photo512 and photo sections: int8, fp32 or both"
    )
    args = parser.parse_args()
    sections = args.sections.split(",")
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}; valid: {', '.join(SECTIONS)}")
    print(
        f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"python {platform.python_version()}; load average at start "
        f"{os.getloadavg()[0]:.1f}\n\n"
        "| measurement | colorgan | compared with | ratio | command |\n|---|---|---|---|---|",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in sections:
            sections_ = {"photo512": photo512_section, "photo": photo_section,
                         "stages": stages_section, "cold": cold_section,
                         "batch": batch_section}  # fmt: skip
            args.section = name
            sections_[name](Path(tmp), args)
    print(
        f"\nload average at end {os.getloadavg()[0]:.1f}; this process peaked at "
        f"{peak_rss_mb():.0f} MB"
    )


if __name__ == "__main__":
    main()
