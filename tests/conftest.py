import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorgan.core import config
from colorgan.io import modelfile
from colorgan.models import generator_from_config

# One intra-op thread, here and in the commands tests start: the tests' tensors are tiny, and
# on a 2-core machine that is busy with anything else, 2 OpenMP threads made a training step
# of a width-8 model 50x slower (10 s vs 0.2 s per step, measured while a training run and
# other tests shared the cores): each thread waits at every barrier for the other's slice.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Caches the code writes (chroma scans, ONNX exports) go to a temp folder, never the
    user's ~/.cache. Paths computed at import time (test data downloads) are unaffected."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    mp.undo()


# The one tiny model of the tests: a width-4 pix2pix U-Net at 32 px (--set overrides). Tests
# that train add their training settings after it (later overrides win).
TINY = [
    "data.size=32",
    "model.width=4",
    "model.disc_width=4",
    "model.gen_kwargs={num_downs: 4}",
]


def tiny_config(preset: str = "pix2pix-unet", extra=()) -> config.Config:
    return config.with_overrides(config.load(preset), [*TINY, *extra])


def save_tiny_model(path: Path, preset: str = "pix2pix-unet", extra=(), seed: int = 0) -> Path:
    """The tiny model, untrained (nearly gray output), as a real generator file."""
    cfg = tiny_config(preset, extra)
    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    modelfile.save_generator(path, generator_from_config(cfg.model, 32), cfg)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny model's file, shared by every test that only reads it."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-model") / "tiny.safetensors")


@pytest.fixture(scope="session")
def tiny_onnx(tiny_model) -> Path:
    """The tiny model exported to ONNX, beside its file."""
    from colorgan.interfaces.export import export_file

    onnx_file = tiny_model.with_suffix(".onnx")
    export_file(tiny_model, onnx_file)
    return onnx_file


@contextmanager
def running(colorizer, **settings):
    """`colorgan serve`'s app around a loaded Colorizer, served by uvicorn in a thread on a
    free port of 127.0.0.1 (the tests never listen on another address); yields (url, app).
    settings: colorgan.interfaces.web.work.ServerSettings's fields."""
    from colorgan.interfaces.web.server import ServerSettings, bind, create_app, uvicorn_server

    chosen = ServerSettings(**settings)
    app = create_app(colorizer, chosen)
    sock = bind("127.0.0.1", 0)
    server = uvicorn_server(app, chosen, log_level="warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def make_photo(seed: int, size: tuple[int, int] = (96, 80)) -> Image.Image:
    """A colourful, textured RGB image (smooth gradients + blobs), deterministic by seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(1, 6, 2).tolist() + [rng.uniform(0, 6.28)]
        channels.append(0.5 + 0.45 * np.sin(fx * 6.28 * x + fy * 6.28 * y + phase))
    img = np.stack(channels, -1) + rng.normal(0, 0.03, (h, w, 3))
    return Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8), "RGB")


@pytest.fixture
def photo_dir(tmp_path):
    """A folder of 12 colourful images in nested subfolders."""
    root = tmp_path / "photos"
    for i in range(12):
        sub = root / f"group{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        make_photo(i).save(sub / f"img{i}.png")
    return root


FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def ray_address(s3_endpoint):
    """One local Ray for the whole test session (starting one costs ~10 s here). Its
    workers import this checkout's colorgan and reach the test's S3 endpoint."""
    import ray

    env = {
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")])
        )
    }
    env |= FAKE_AWS | {"AWS_ENDPOINT_URL": s3_endpoint}
    mp = pytest.MonkeyPatch()
    for key, value in env.items():  # the raylet (and so every job's workers) inherit these
        mp.setenv(key, value)
    ray.init(
        address="local",  # a new one, whatever else runs on this machine
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 << 20,
        logging_level="WARNING",
        log_to_driver=False,
    )
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    mp.undo()
