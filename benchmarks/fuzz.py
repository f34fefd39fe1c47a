"""Fuzz every parser of untrusted input for N minutes (the harness of tests/fuzzing.py).

    python benchmarks/fuzz.py --minutes 3
    python benchmarks/fuzz.py --minutes 1 --targets hints_json,config_yaml

Runs the targets in turn, ROUND examples each time, until the time is up; every round
draws new inputs (no example database). Prints per target the examples tried and what was
found: each finding is the input Hypothesis shrank it to and the broken invariant (a
traceback other than a one-line error, a 5xx, an error message over one short line, an
allocation over the budget, a file written). Exit 1 when anything was found.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the harness lives with the tests

from hypothesis import HealthCheck, given, settings  # noqa: E402

from tests import fuzzing  # noqa: E402
from tests.reliability_helpers import save_tiny_model  # noqa: E402

ROUND = 50


def targets(folder: Path) -> dict:
    """name -> (strategy, function of one drawn value)."""
    checkpoints = fuzzing.Checkpoints(folder / "run")
    server = fuzzing.Server(save_tiny_model(folder / "tiny.safetensors"))
    encoded = fuzzing.hints_text.map(lambda t: t.encode("utf-8", "surrogatepass"))
    return {
        "hints_json": (fuzzing.hints_text, fuzzing.hints_json),
        "hints_file": (encoded, fuzzing.hints_file),
        "hint_text": (fuzzing.texts, fuzzing.hint_text),
        "config_yaml": (fuzzing.config_text, fuzzing.config_yaml),
        "onnx_props": (fuzzing.onnx_meta, fuzzing.onnx_props),
        "option_values": (fuzzing.option_argv, fuzzing.option_values),
        "checkpoint_json": (fuzzing.checkpoint_json, lambda case: checkpoints.resume(*case)),
        "rest_parameters": (fuzzing.rest_request, lambda case: server.request(*case)),
    }


def one_round(strategy, function, counter: list) -> str | None:
    """ROUND examples; None, or the finding (shrunk input and error) as text."""

    def counted(value) -> None:
        counter[0] += 1
        function(value)

    test = settings(
        max_examples=ROUND,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )(given(strategy)(counted))
    try:
        test()
    except Exception as exc:  # the finding: Hypothesis re-raises the shrunk example's error
        found = getattr(exc, "exceptions", None) or [exc]  # several distinct ones: a group
        return "\n".join(describe(e) for e in found)
    return None


def describe(exc: BaseException) -> str:
    """The shrunk input (Hypothesis's note) and the error's last line."""
    notes = "\n".join(getattr(exc, "__notes__", []))
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return f"{notes}\n{last[:500]}"


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--targets", help="comma-separated (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        everything = targets(Path(tmp))
        chosen = args.targets.split(",") if args.targets else list(everything)
        unknown = set(chosen) - set(everything)
        if unknown:
            raise SystemExit(f"unknown targets {sorted(unknown)}; valid: {', '.join(everything)}")
        examples = {name: [0] for name in chosen}
        findings: dict[str, list[str]] = {name: [] for name in chosen}
        deadline = time.monotonic() + 60 * args.minutes
        while time.monotonic() < deadline:
            for name in chosen:
                if time.monotonic() >= deadline:
                    break
                found = one_round(*everything[name], examples[name])
                if found and found not in findings[name]:
                    findings[name].append(found)
    print(f"| target | examples | findings |  ({args.minutes:g} minutes)\n|---|---|---|")
    for name in chosen:
        print(f"| {name} | {examples[name][0]:,} | {len(findings[name])} |")
    for name in chosen:
        for found in findings[name]:
            print(f"\n{name}:\n{found}")
    sys.exit(1 if any(findings.values()) else 0)


if __name__ == "__main__":
    main()
