"""The fuzzing harness (tests/fuzzing.py) on a small budget: each parser of untrusted input
gets EXAMPLES drawn inputs per run (a few seconds in all); `python benchmarks/fuzz.py
--minutes N` draws for longer. A failure prints the input Hypothesis shrank it to."""

import pytest

pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, example, given, settings  # noqa: E402

from . import fuzzing  # noqa: E402

EXAMPLES = 25
SMALL = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SMALL
@given(fuzzing.hints_text)
def test_hints_json(text):
    fuzzing.hints_json(text)


@SMALL
@given(fuzzing.hints_text.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_hints_file(data):
    fuzzing.hints_file(data)


@SMALL
@given(fuzzing.texts)
def test_hint_text(text):
    fuzzing.hint_text(text)


@SMALL
@given(fuzzing.config_text)
# found by benchmarks/fuzz.py: a 508-character key under data.size made a 600-character error
@example(fuzzing._mutated_config({"data.size": {"f" * 508: -(10**17)}}))
def test_config_yaml(text):
    fuzzing.config_yaml(text)


@SMALL
@given(fuzzing.onnx_meta)
def test_onnx_props(meta):
    fuzzing.onnx_props(meta)


@SMALL
@given(fuzzing.option_argv)
def test_option_values(argv):
    fuzzing.option_values(argv)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return fuzzing.Checkpoints(tmp_path_factory.mktemp("fuzz") / "run")


@SMALL
@given(case=fuzzing.checkpoint_json)
def test_checkpoint_json(checkpoints, case):
    checkpoints.resume(*case)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("fastapi")
    from .reliability_helpers import save_tiny_model

    return fuzzing.Server(save_tiny_model(tmp_path_factory.mktemp("fuzz") / "tiny.safetensors"))


@SMALL
@given(case=fuzzing.rest_request)
def test_rest_parameters(server, case):
    server.request(*case)
