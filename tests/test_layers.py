"""The package's layers: every module imports, no import cycle, no import of a higher layer
(core < io < models < pipeline, training < evaluation, datasets < interfaces), and the size
rules, counted on the code as `ruff format` writes it (modules up to 500 lines, functions up
to 80; `# fmt: skip` may keep a generated table as it is, never shorten code). Imports are
read from the source (every `import` statement, those inside functions included), not from
what Python happens to load."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import colorgan

ROOT = Path(colorgan.__file__).parent
LAYERS = {
    "core": 0,
    "io": 1,
    "models": 2,
    "pipeline": 3,
    "training": 3,
    "evaluation": 4,
    "datasets": 4,
    "interfaces": 5,
}
# the package entry points, above everything; `colorgan` itself (its lazy __init__: the
# version, Colorizer and Hint on demand) may be imported from anywhere
TOP = {"colorgan", "colorgan.__main__"}
MAX_LINES, MAX_FUNCTION_LINES = 500, 80
# the one place a `# fmt: skip` is allowed: a table of numbers laid out as a table
FMT_SKIP_ALLOWED = {"colorgan.core.abbins"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The colorgan modules `name` imports (a `from pkg import mod` names the module)."""
    tree = ast.parse(MODULES[name].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return {m for m in found if m in MODULES and m != name}


def layer(name: str) -> float:
    if name in TOP:
        return float("inf")
    parts = name.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else float("inf")


@pytest.mark.parametrize("name", [m for m in MODULES if not m.endswith("__main__")])
def test_every_module_imports(name):
    importlib.import_module(name)


def test_no_module_imports_a_higher_layer():
    wrong = [
        f"{name} -> {dep}"
        for name in MODULES
        for dep in imports_of(name)
        if dep != "colorgan"
        and layer(dep) > layer(name)
        and dep.split(".")[:2] != name.split(".")[:2]
    ]
    assert wrong == []


def test_no_import_cycle():
    graph = {name: imports_of(name) - {"colorgan"} for name in MODULES}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycles = []

    def visit(node, path):
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join([*path[path.index(dep) :], dep]))
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def oversized(name: str) -> list[str]:
    text = MODULES[name].read_text()
    found = [f"{name}: {text.count(chr(10))} lines"] if text.count("\n") > MAX_LINES else []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{name}.{node.name}: {length} lines")
    return found


def test_sizes_are_counted_on_formatted_code():
    skips = [
        n for n, p in MODULES.items() if "fmt: skip" in p.read_text() or "fmt: off" in p.read_text()
    ]
    assert sorted(set(skips) - FMT_SKIP_ALLOWED) == []
    check = [sys.executable, "-m", "ruff", "format", "--check", "--quiet", str(ROOT)]
    result = subprocess.run(check, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_module_and_function_sizes():
    assert [line for name in MODULES for line in oversized(name)] == []
