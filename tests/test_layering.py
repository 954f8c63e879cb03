"""The import rules of robokit's layout, read from the source (so that they stay true):

- drivers import from robokit only robokit.types, robokit.control and robokit.vision (the image
  pipeline every camera shares), which imports no other part of robokit;
- envs import no training loop: from robokit core only types, control, vision, data, rewards, the
  reset-free alternation and the language encoder and instructed env;
- robokit's core imports neither robokit.envs nor robokit.drivers outside robokit/cli/;
- no module imports, at import time, a module that imports it back (no cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"robokit": REPO / "robokit", "robokit.envs": REPO / "envs", "robokit.drivers": REPO / "drivers"}
ENVS_MAY_USE = (
    "robokit.types",
    "robokit.control",
    "robokit.vision",
    "robokit.data",
    "robokit.rewards",
    "robokit.recipes.alternation",
    "robokit.language.encoder",
    "robokit.language.instructed",
)


def modules() -> dict[str, Path]:
    found = {}
    for package, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The robokit modules `path` imports (with `from a import b`, a.b where that is a module)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    known = modules()
    return {n for n in names if n in known}


def under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


ALL = modules()


@pytest.mark.parametrize("name", sorted(n for n in ALL if under(n, "robokit.drivers")))
def test_drivers_use_only_types_and_control(name):
    bad = {
        m
        for m in imports(ALL[name])
        if not under(m, "robokit.drivers", "robokit.types", "robokit.control", "robokit.vision")
    }
    assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", sorted(n for n in ALL if under(n, "robokit.vision")))
def test_the_image_pipeline_imports_no_other_part_of_robokit(name):
    bad = {m for m in imports(ALL[name]) if under(m, "robokit") and not under(m, "robokit.vision")}
    assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize("name", sorted(n for n in ALL if under(n, "robokit.envs")))
def test_envs_import_no_training_loop(name):
    bad = {m for m in imports(ALL[name]) if not under(m, "robokit.envs", "robokit.drivers", *ENVS_MAY_USE)}
    assert not bad, f"{name} imports {sorted(bad)}"


def test_core_imports_neither_envs_nor_drivers_outside_the_cli():
    core = [n for n in ALL if not under(n, "robokit.envs", "robokit.drivers", "robokit.cli")]
    bad = {n: sorted(m for m in imports(ALL[n]) if under(m, "robokit.envs", "robokit.drivers")) for n in core}
    assert not {n: m for n, m in bad.items() if m}


def test_no_import_cycle():
    graph = {n: {m for m in imports(p, top_level_only=True) if m != n} for n, p in ALL.items()}
    # a package's __init__ is imported before its modules: count it as their importer too
    for name in ALL:
        parent = name.rsplit(".", 1)[0]
        if parent in graph and parent != name:
            graph[name] = graph[name] | {parent} - {name}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1 and not under(node, nxt):  # a module importing its own package is fine
                cycles.append(path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def test_the_rules_catch_a_violation(tmp_path):
    """The checks can fail: a driver importing the training loop is found."""
    bad = tmp_path / "bad.py"
    bad.write_text("from robokit.loop.learner import Learner\nimport robokit.types\n")
    assert imports(bad) == {"robokit.loop.learner", "robokit.types"}
