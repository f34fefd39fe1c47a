"""One option spec (colorgan.pipeline.options) behind the command line, the REST API and the
Python API: each reads the bounds, choices and defaults from there, and each refuses a value
outside them in its own way (exit 2 with one line, 422, ColorganError)."""

import math

import pytest
import torch

from colorgan.core.errors import ColorganError
from colorgan.interfaces.cli import main
from colorgan.pipeline import options
from colorgan.pipeline.colorizer import Colorizer


def zeros(x):
    return torch.zeros(x.shape[0], 2, *x.shape[-2:])


NUMBERS = [o for o in options.ALL.values() if o.choices is None]


@pytest.mark.parametrize("option", NUMBERS, ids=lambda o: o.name)
def test_python_api_refuses_what_the_spec_refuses(option):
    colorizer = Colorizer(zeros, working_size=32)
    inside = option.low if option.kind is float else max(option.low, 32)
    colorizer.using(**{option.name: inside})
    for bad in (option.low - 1, option.high + 1, math.inf, math.nan, True, "1"):
        with pytest.raises(ColorganError, match=f"{option.name}="):
            colorizer.using(**{option.name: bad})


@pytest.mark.parametrize(
    "argv",
    [
        ["--saturation", "inf"],
        ["--saturation", "1e308"],
        ["--size", "100000"],
        ["--vividness", "-0.1"],
        ["--mode", "mosaic"],
        ["--tile", "0"],
    ],
)
def test_command_line_refuses_with_one_line(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["colorize", str(tmp_path / "x.png"), *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and argv[0] in err and "error:" in err


def test_command_line_reads_the_spec(capsys):
    with pytest.raises(SystemExit):
        main(["colorize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in options.ALL.values():
        assert f"--{option.name}" in text
        assert " ".join(option.help.split()[:4]) in text


def test_rest_parameters_are_generated_from_the_spec():
    from colorgan.interfaces.web.server import create_app

    app = create_app(Colorizer(zeros, working_size=32))
    try:
        schema = app.openapi()
    finally:
        app.state.tmp.cleanup()
    params = {p["name"]: p for p in schema["paths"]["/api/colorize"]["post"]["parameters"]}
    for name in ("saturation", "vividness", "size"):
        option, found = options.ALL[name], params[name]["schema"]
        ranges = found.get("anyOf", [found])[0]
        assert (ranges["minimum"], ranges["maximum"]) == (option.low, option.high)
    modes = params["mode"]["schema"]["anyOf"][0]["enum"]
    assert tuple(modes) == options.MODES
