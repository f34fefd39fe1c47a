"""The light install (the base: ONNX Runtime, no torch): a command that needs a missing extra
says which to install, in one line, exit 2; "auto" is the CPU without torch; and colouring
photos (hints and a reference included) imports nothing beyond the base. The installed
wheel itself is checked by scripts/check_light_install.sh (CI)."""

import subprocess
import sys
from pathlib import Path

import pytest

from colorgan.core import devices, extras
from colorgan.interfaces.cli import main

from .conftest import make_photo

ROOT = Path(__file__).resolve().parents[1]


def without(monkeypatch, *modules):
    """Make `import X` fail for each module, as where its extra is not installed (and forget
    the colorgan modules that imported it, so they import again)."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)
    for name in [m for m in sys.modules if m.startswith("colorgan.interfaces.")]:
        monkeypatch.delitem(sys.modules, name)


@pytest.mark.parametrize(
    "module, argv, extra",
    [
        ("fastapi", ["serve"], "web"),
        ("av", ["video", "clip.mp4", "-o", "out.mp4"], "video"),
        ("torch", ["export", "default", "-o", "model.onnx"], "train"),
        ("torch", ["colorize", "photo.png", "--backend", "torch"], "train"),
        ("torch", ["colorize", "photo.png", "--device", "cuda"], "train"),
    ],
)
def test_a_missing_extra_is_one_line_naming_the_pip_install(
    module, argv, extra, monkeypatch, tmp_path, capsys
):
    monkeypatch.chdir(tmp_path)
    make_photo(0, (40, 32)).save(tmp_path / "photo.png")
    without(monkeypatch, module)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: colorgan {argv[0]} needs the package {module!r}, which is not installed: "
        f"pip install 'colorgan[{extra}]'\n"
    )
    assert not (tmp_path / "colorized").exists()


def test_every_extra_module_names_an_extra_of_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = set(pyproject["project"]["optional-dependencies"])
    assert set(extras.EXTRAS.values()) <= declared
    assert extras.install_command("onnxruntime") == "pip install --force-reinstall colorgan"


def test_auto_is_the_cpu_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # find_spec: not installed
    assert devices.no_cuda_here()
    assert devices.device_name("auto") == "cpu"
    with pytest.raises(ModuleNotFoundError):  # asked for by name: the CLI says what to install
        devices.device_name("cuda")


# Every module of an extra made "not installed" (import fails, find_spec finds nothing), as in
# the base install
BASE_ONLY = """
import sys
from colorgan.core.extras import EXTRAS

sys.modules.update(dict.fromkeys(EXTRAS))
from colorgan.interfaces.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.integration
def test_colouring_photos_needs_only_the_base_install(tmp_path):
    photo = tmp_path / "photo.png"
    make_photo(0, (96, 80)).save(photo)

    def run(*args):
        argv = [sys.executable, "-c", BASE_ONLY, "colorize", str(photo), *map(str, args)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=300)

    plain = run("-o", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    reference = tmp_path / "plain" / "photo_color.png"
    guided = run("-o", tmp_path / "guided", "--hint", "20,30,#3366cc", "--reference", reference)
    assert guided.returncode == 0, guided.stderr
    assert (tmp_path / "guided" / "photo_color.png").is_file()
    # the check can fail: the torch backend is blocked here, with the one-line message
    blocked = run("-o", tmp_path / "torch", "--backend", "torch")
    assert blocked.returncode == 2 and "pip install 'colorgan[train]'" in blocked.stderr
    train = [sys.executable, "-c", BASE_ONLY, "train", "--preset", "pix2pix-unet", "--out", "r"]
    blocked = subprocess.run(train, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert blocked.returncode == 2 and blocked.stderr == (
        "error: colorgan train needs the package 'torch', which is not installed: "
        "pip install 'colorgan[train]'\n"
    )
