"""Issue 15, failures 6 and 8: Ctrl-C is clean at every point (no blame on a healthy cache
file, "interrupted" is the last line), and colouring with ONNX Runtime writes no file
outside the output folder and colorgan's own cache (its telemetry is off)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from colorgan.core.interrupts import deferred_interrupts

from .reliability_helpers import child_env, ctrl_c_as_usual, noise_photo, save_tiny_model

pytestmark = pytest.mark.integration  # CONTRIBUTING.md: the test tiers

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def private_env(root: Path) -> dict[str, str]:
    """HOME, the XDG folders and TMPDIR inside root; nothing that switches telemetry off."""
    env = child_env()
    env.pop("ORT_DISABLE_TELEMETRY", None)
    for name, sub in [
        ("HOME", "home"),
        ("XDG_CACHE_HOME", "home/.cache"),
        ("TMPDIR", "tmp"),
        ("XDG_CONFIG_HOME", "home/.config"),
        ("XDG_DATA_HOME", "home/.local"),
        ("MPLCONFIGDIR", "home/.config/matplotlib"),
    ]:
        env[name] = str(root / sub)
        (root / sub).mkdir(parents=True, exist_ok=True)
    return env


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def home(model, tmp_path_factory):
    """A private HOME/XDG/TMPDIR where a first `colorize --backend onnx` exported the model
    to colorgan's cache: (root, env, args of that command, files before it ran)."""
    root = tmp_path_factory.mktemp("home")
    env = private_env(root)
    src = noise_photo(root / "in" / "photo.png", side=48)
    before = files_under(root)
    args = [
        sys.executable,
        "-m",
        "colorgan",
        "colorize",
        str(src),
        "--model",
        str(model),
        "--backend",
        "onnx",
    ]
    done = subprocess.run(
        [*args, "-o", str(root / "out")], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return root, env, args, before


def cached_exports(root: Path) -> list[Path]:
    """The cached exports (not the optimised graphs ONNX Runtime keeps beside them)."""
    found = (root / "home" / ".cache" / "colorgan" / "onnx").glob("*.onnx")
    return sorted(p for p in found if not p.name.endswith(".optimized.onnx"))


def test_colorizing_writes_nothing_outside_the_output_and_its_cache(home):
    """Failure 8: every ONNX Runtime run wrote a device id and an event database under
    ~/.cache/Microsoft and a .ses file in $TMPDIR (its telemetry)."""
    root, env, args, before = home
    done = subprocess.run(
        [*args, "-o", str(root / "out"), "--overwrite"],  # from the cache
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    cache = root / "home" / ".cache" / "colorgan"
    new = files_under(root) - before
    outside = [p for p in new if not (p.is_relative_to(root / "out") or p.is_relative_to(cache))]
    assert sorted(str(p.relative_to(root)) for p in outside) == []
    assert (root / "out" / "photo_color.png").is_file() and len(cached_exports(root)) == 1


SCRIPT = """
import atexit, logging, sys
from colorgan.interfaces import cli
atexit.register(lambda: logging.getLogger("torch._subclasses.fake_tensor").info(
    "FakeTensor cache stats:"))  # what torch logs at exit after an interrupted export
def interrupted(args):
    logging.getLogger("colorgan").info("working")
    raise KeyboardInterrupt
module = cli._load("colorize")
module.run_cli = interrupted
sys.exit(cli.main(["colorize", "nothing.png"]))
"""


def test_interrupted_is_the_last_line(tmp_path):
    """Failure 6: 8 of 60 runs printed FakeTensor log lines after "interrupted"."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=tmp_path,
        timeout=120,
        preexec_fn=ctrl_c_as_usual,
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "interrupted", done.stderr


INTERRUPTED_SESSION = """
import os, signal, sys, time
import onnxruntime
from colorgan.interfaces.cli import main
real = onnxruntime.InferenceSession

def session(*args, **kwargs):
    # Ctrl-C while ONNX Runtime builds the session; a native library that calls back into
    # Python turns the KeyboardInterrupt into its own error, as ORT did in the issue
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
    except KeyboardInterrupt as exc:
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : KeyboardInterrupt") from exc
    return real(*args, **kwargs)

onnxruntime.InferenceSession = session
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_while_a_session_is_created_blames_no_cache_file(home):
    """Failure 6: 3 of 60 runs blamed a healthy cached export ("not a readable ONNX
    model"). Ctrl-C now waits for the session, then stops the run; the cache stays."""
    root, env, args, _ = home
    (cached,) = cached_exports(root)
    before = cached.read_bytes()
    out = root / "interrupted"
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPTED_SESSION, *args[3:], "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        preexec_fn=ctrl_c_as_usual,
    )
    assert "not a readable" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 130 and done.stderr.strip().endswith("interrupted"), done.stderr
    assert cached.read_bytes() == before and not out.exists()


def test_a_damaged_cached_export_is_made_again_not_blamed(home):
    root, env, args, _ = home
    (cached,) = cached_exports(root)
    whole = cached.read_bytes()
    cached.write_bytes(whole[:1000])  # a disk error, say
    for optimised in cached.parent.glob("*.optimized.onnx"):  # else that is loaded instead
        optimised.unlink()  # (as after an ONNX Runtime upgrade)
    done = subprocess.run(
        [*args, "-o", str(root / "again")], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "exporting again" in done.stderr
    assert cached.read_bytes() == whole  # made again, whole


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler during the test, also where pytest was started with
    SIGINT ignored (a shell's background job)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_deferred_interrupts_hold_ctrl_c_until_the_block_ends(python_ctrl_c):
    seen = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # native work, say: not interrupted
            seen.append("finished")
    assert seen == ["finished"]


def test_a_second_ctrl_c_stops_at_once():
    script = textwrap.dedent("""
        import os, signal, time
        from colorgan.core.interrupts import deferred_interrupts
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
            print("not reached")
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        preexec_fn=ctrl_c_as_usual,
    )
    assert done.returncode == -signal.SIGINT and "not reached" not in done.stdout
