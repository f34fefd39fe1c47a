"""`colorgan batch` (Ray Data, a pool of model-holding actors) against `colorgan colorize DIR`
over the same photos, side by side in one run: the throughput ratio is the engine's cost.

    python benchmarks/batch.py                 # 200 photos of ~1 MP, 2 rounds
    python benchmarks/batch.py --photos 50 --rounds 1

The photos are made from /work/data/offline's train and val splits when that folder is there
(each cropped and resized to 1152x864 gray, so ~1 MP), else synthesised (benchmarks/
inference.make_photo). Both commands run as their own processes, one after the other, in
alternating rounds (the other's output folder fresh each time); each timing is the command's
whole wall time (start, model load, every photo read, coloured and written). The batch job
runs on a Ray started here first, as a job on an existing cluster does (`--address`); one
more batch run that starts its own local Ray shows what that start adds. Per actor: the
photos each actor does per second while all of them run (the manifest's seconds).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[1]
OFFLINE = Path("/work/data/offline")
SIZE = (1152, 864)


def make_photos(folder: Path, n: int) -> None:
    sources = sorted(p for split in ("train", "val") for p in (OFFLINE / split).glob("*.jpg"))
    sources = [p for p in sources if min(Image.open(p).size) >= 200]
    for i in range(n):
        path = folder / f"box{i % 10}" / f"photo{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        if sources:
            im = ImageOps.fit(Image.open(sources[i % len(sources)]).convert("L"), SIZE)
            (im.transpose(Image.FLIP_LEFT_RIGHT) if i // len(sources) % 2 else im).save(
                path, quality=90
            )
        else:
            sys.path.insert(0, str(REPO / "benchmarks"))
            from inference import make_photo

            make_photo(path, SIZE[1], SIZE[0])


def timed(argv: list[str], env: dict) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def steady(out: Path) -> float:
    """Photos per second between the first result written and the last (the files' times):
    the rate once started, which is what an archive of millions sees."""
    times = sorted(p.stat().st_mtime for p in out.rglob("*_color.jpg"))
    return (len(times) - 1) / (times[-1] - times[0])


def per_actor(manifest: Path) -> float:
    """Photos per second of one actor, from the manifest's per-photo seconds."""
    import pyarrow.parquet as pq

    seconds = pq.read_table(manifest).column("seconds").to_pylist()
    return len(seconds) / sum(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="default")
    parser.add_argument(
        "options", nargs="*", help="more batch options, after --: -- --actors 1 --threads 2"
    )
    args = parser.parse_args()

    import ray

    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    os.environ.update(env)  # the Ray started here (its workers) imports this checkout too
    cores = len(os.sched_getaffinity(0))
    work = Path(tempfile.mkdtemp(prefix="colorgan-batch-bench-"))
    src = work / "photos"
    make_photos(src, args.photos)
    py = [sys.executable, "-m", "colorgan"]
    model = ["--model", args.model]
    timed(py + ["colorize", str(next(src.rglob("*.jpg"))), "-o", str(work / "warm"), *model], env)
    ray.init(
        address="local",
        num_cpus=cores,
        include_dashboard=False,
        logging_level="WARNING",
        log_to_driver=False,
    )
    address = ray.get_runtime_context().gcs_address
    ray_env = dict(os.environ)  # with how to reach it (ray.init sets RAY_AUTH_MODE)
    colorize, batch, actors, rates = [], [], [], {"colorize": [], "batch": []}
    for r in range(args.rounds):
        out = work / f"colorize{r}"
        colorize.append(timed(py + ["colorize", str(src), "-r", "-o", str(out), *model], env))
        rates["colorize"].append(steady(out))
        out = work / f"batch{r}"
        argv = py + ["batch", str(src), str(out), "--address", address, *model, *args.options]
        batch.append(timed(argv, ray_env))
        rates["batch"].append(steady(out))
        actors.append(per_actor(out / "_manifest"))
        assert len(list(out.rglob("*_color.jpg"))) == args.photos
    ray.shutdown()
    local = timed(py + ["batch", str(src), str(work / "local"), *model, *args.options], env)

    n = args.photos
    best_c, best_b = min(colorize), min(batch)
    print(
        f"{n} photos of {SIZE[0]}x{SIZE[1]} (~1 MP), {cores} cores, {args.rounds} rounds "
        f"(seconds of each round; the best taken)"
    )
    print(
        f"colorize DIR:              {best_c:6.1f} s  {n / best_c:5.2f} photos/s  "
        f"{' '.join(f'{s:.1f}' for s in colorize)}"
    )
    print(
        f"batch (Ray already up):    {best_b:6.1f} s  {n / best_b:5.2f} photos/s  "
        f"{' '.join(f'{s:.1f}' for s in batch)}"
    )
    print(f"batch (starts local Ray):  {local:6.1f} s  {n / local:5.2f} photos/s")
    print(f"per actor: {statistics.median(actors):.2f} photos/s (median over rounds)")
    best = {k: max(v) for k, v in rates.items()}
    print(
        f"once started (first to last result): colorize {best['colorize']:.2f} photos/s, "
        f"batch {best['batch']:.2f} photos/s, ratio {best['batch'] / best['colorize']:.2f}"
    )
    print(
        f"throughput ratio batch / colorize: {best_c / best_b:.2f} (Ray up), "
        f"{best_c / local:.2f} (Ray started by the command)"
    )


if __name__ == "__main__":
    main()
