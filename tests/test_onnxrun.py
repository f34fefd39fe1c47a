"""pipeline.onnxrun: the optimised graph kept beside a cached export, reused and repaired."""

import numpy as np

from colorgan.io.cache import cache_dir
from colorgan.pipeline import loading

from .reliability_helpers import save_tiny_model


def test_optimised_graph_is_kept_reused_and_repaired(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # other tests export alike
    weights = save_tiny_model(tmp_path / "tiny.safetensors")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 1, 32, 48)).astype(np.float32)
    first = loading.onnx_generator(weights)  # exports: the cache holds the export only
    expected = first(x)
    assert not list(cache_dir("onnx").glob("*.optimized.onnx"))
    loading.onnx_generator(weights)  # from the cache: writes this machine's optimised graph
    (optimised,) = cache_dir("onnx").glob("*.optimized.onnx")
    reused = loading.onnx_generator(weights)
    np.testing.assert_allclose(reused(x), expected, atol=1e-5)
    assert reused.config.model.generator == first.config.model.generator  # metadata kept
    optimised.write_bytes(b"not a model")  # damaged (a full disk, say): made again
    repaired = loading.onnx_generator(weights)
    np.testing.assert_allclose(repaired(x), expected, atol=1e-5)
    assert optimised.stat().st_size > 1000


def test_a_cache_folder_it_cannot_write_costs_only_the_optimisation(tmp_path, monkeypatch):
    """ONNX Runtime writes the optimised graph itself while it makes the session, and fails
    where it cannot (a read-only or missing folder): then no graph is kept, and no error."""
    from colorgan.pipeline.onnxrun import session

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # this test's export only
    weights = save_tiny_model(tmp_path / "tiny.safetensors")
    model = loading.onnx_generator(weights)  # the export, cached
    (export,) = [p for p in cache_dir("onnx").glob("*.onnx") if "optimized" not in p.name]
    nowhere = tmp_path / "missing" / "graph.optimized.onnx"
    run = session(export.read_bytes(), optimized=nowhere)
    x = np.zeros((1, 1, 32, 32), np.float32)
    np.testing.assert_allclose(run.run(None, {"l_norm": x})[0], model(x), atol=1e-5)
    assert not nowhere.parent.exists()
