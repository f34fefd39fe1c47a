"""Issue 15, failure 4: a truncated video came out shorter, exit 0, no warning. Now missing
frames before the declared end (and damaged packets) are reported with counts, and the
exit code is 1 unless --allow-truncated."""

import av
import numpy as np
import pytest
import torch

from colorgan.interfaces.cli import main

from .reliability_helpers import run_cli, save_tiny_model

FRAMES, W, H = 96, 32, 24


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors"))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny frames: a second thread costs more than it saves
    yield
    torch.set_num_threads(before)


def write_clip(path, n=FRAMES, **options):
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options=options) as out:
        vs = out.add_stream("libx264", rate=24, options={"crf": "30", "preset": "ultrafast"})
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        for i in range(n):
            gray = np.repeat(rng.integers(0, 255, (H, W, 1), dtype=np.uint8), 3, -1)
            frame = av.VideoFrame.from_ndarray(gray, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    return path


def cut_in_half(src, dst):
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def frames_in(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    whole_mp4 = write_clip(d / "whole.mp4", movflags="+faststart")  # header first: survives
    whole_mkv = write_clip(d / "whole.mkv")
    return {
        "whole": whole_mp4,
        "mp4": cut_in_half(whole_mp4, d / "cut.mp4"),  # declares its frame count
        "mkv": cut_in_half(whole_mkv, d / "cut.mkv"),  # declares only its duration
    }


def video(*args):
    return main(["video", *map(str, args)])


@pytest.mark.parametrize("kind", ["mp4", "mkv"])
def test_truncated_video_is_reported_and_fails(clips, kind, model, tmp_path, capsys):
    out = tmp_path / f"out.{kind}"
    code = video(clips[kind], "-o", out, "--model", model, "--backend", "torch")
    err = capsys.readouterr().err
    got = frames_in(out)  # what could be coloured is kept
    assert 0 < got < FRAMES * 0.6
    assert code == 1, err
    assert f"decoded {got} of {'about ' * (kind == 'mkv')}{FRAMES} frames" in err
    assert "--allow-truncated" in err


def test_allow_truncated_accepts_it_with_the_warning(clips, model, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    args = (clips["mp4"], "-o", out, "--model", model, "--backend", "torch")
    assert video(*args, "--allow-truncated") == 0
    assert f"of {FRAMES} frames" in capsys.readouterr().err


def test_a_whole_video_gives_no_warning(clips, model, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert video(clips["whole"], "-o", out, "--model", model, "--backend", "torch") == 0
    assert "frames" not in capsys.readouterr().err.replace("frame/s", "")
    assert frames_in(out) == FRAMES


@pytest.mark.integration
def test_video_output_that_does_not_fit_is_an_error(clips, model, tmp_path):
    """FFmpeg's write errors reach the user as one line naming the output, and neither the
    output nor its `.partial-PID` file is left."""
    out = tmp_path / "out.mp4"
    done = run_cli(
        "video", clips["whole"], "-o", out, "--model", model, "--backend", "torch", limit=4_000
    )
    assert done.returncode == 2, done.stderr
    assert f"error: {out}: cannot write" in done.stderr
    assert list(tmp_path.iterdir()) == []
