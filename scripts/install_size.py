"""What the light install leaves on disk: a wheel built from this tree, installed into fresh
virtual environments, photos only (the base) and with [web,video].

    python scripts/install_size.py [--wheel dist/colorgan-0.1.0-py3-none-any.whl] [--top 8]

Prints, per environment, the bytes the install added (the environment's size minus that of
an empty one: pip and setuptools were there before) in MB (10^6 bytes) and MiB, and its
largest packages. Needs PyPI (pip), nothing else from the network; about a minute.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALLS = {"photos only (base)": "", "with [web,video]": "[web,video]"}


def size(path: Path) -> int:
    """Bytes of the files under path (as `du -sb`, links not followed)."""
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def largest(venv: Path, top: int) -> str:
    site = next(venv.glob("lib/python*/site-packages"))
    sizes = {p.name: size(p) if p.is_dir() else p.stat().st_size for p in site.iterdir()}
    best = sorted(sizes.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{name} {n / 1e6:.0f}" for name, n in best)


def venv(where: Path, wheel: Path | None, extras: str) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    if wheel is not None:
        pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}{extras}"]
        subprocess.run(pip, check=True, stderr=subprocess.DEVNULL)
    return where


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--wheel", type=Path, help="a built wheel (default: build one now)")
    p.add_argument("--top", type=int, default=8, help="largest packages to list")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wheel = args.wheel
        if wheel is None:
            build = [sys.executable, "-m", "build", "-o", str(tmp / "dist"), str(ROOT)]
            subprocess.run(build, check=True, capture_output=True)
            wheel = next((tmp / "dist").glob("colorgan-*.whl"))
        print(f"wheel: {wheel.name}, {wheel.stat().st_size / 1e6:.1f} MB")
        empty = size(venv(tmp / "empty", None, ""))
        print(f"an empty virtual environment: {empty / 1e6:.0f} MB (pip, setuptools)")
        for label, extras in INSTALLS.items():
            where = venv(tmp / f"venv{len(extras)}", wheel.resolve(), extras)
            added = size(where) - empty
            mb, mib = added / 1e6, added / 2**20
            print(
                f"{label}: {mb:.0f} MB installed ({mib:.0f} MiB); largest (MB): "
                + largest(where, args.top)
            )


if __name__ == "__main__":
    main()
