"""The one-way import rules between envhub's top-level packages (docs/CONTRACTS.md, "Folders and imports").

    contracts  <-  servers  <-  synth  <-  hub          agent, trainer  ->  contracts only

Every module is parsed (never imported), so the check sees imports inside functions too and
marks them lazy: only hub (the `envhub` CLI) may reach agent/trainer, and only lazily.
"""

from __future__ import annotations

import ast
import graphlib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contracts", "servers", "synth", "hub", "agent", "trainer")

# Which of our packages each package may import at module level.
MODULE_LEVEL: dict[str, set[str]] = {
    "contracts": set(),
    "servers": {"contracts"},
    "synth": {"contracts", "servers"},
    "hub": {"contracts", "servers", "synth"},
    "agent": {"contracts"},
    "trainer": {"contracts"},
}
# What may additionally be imported inside a function (so that `envhub --help` stays light and
# the hosting code never loads the agent or the trainer).
LAZY_ONLY: dict[str, set[str]] = {"hub": {"agent", "trainer"}}


@dataclass(frozen=True)
class ImportEdge:
    file: str
    line: int
    source: str  # importing package
    target: str  # imported package
    module: str  # imported module, dotted
    lazy: bool  # inside a function body


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module an `ImportFrom` names (relative imports resolved against `module`)."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool):
        self.module = module
        self.is_package = is_package
        self.depth = 0
        self.found: list[tuple[int, str, bool]] = []

    def _in_function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = _in_function  # noqa: N815
    visit_AsyncFunctionDef = _in_function  # noqa: N815
    visit_Lambda = _in_function  # noqa: N815

    def visit_Import(self, node: ast.Import) -> None:  # noqa: N802
        for alias in node.names:
            self.found.append((node.lineno, alias.name, self.depth > 0))

    def visit_Call(self, node: ast.Call) -> None:  # noqa: N802
        # importlib.import_module("pkg.mod") with a literal name is an import too.
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if name == "import_module" and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            self.found.append((node.lineno, node.args[0].value, self.depth > 0))
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:  # noqa: N802
        target = _resolve(node, self.module, self.is_package)
        self.found.append((node.lineno, target, self.depth > 0))
        if node.module is None:  # `from . import x`: each name may be a module of its own
            for alias in node.names:
                self.found.append((node.lineno, f"{target}.{alias.name}", self.depth > 0))


def import_edges(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[ImportEdge]:
    """Every import of one of `packages` by a module of another one (or the same), statically."""
    edges: list[ImportEdge] = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            module = _module_name(path, root)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            collector = _Collector(module, path.name == "__init__.py")
            collector.visit(tree)
            for line, target, lazy in collector.found:
                top = target.split(".")[0]
                if top in packages:
                    edges.append(ImportEdge(str(path.relative_to(root)), line, package, top, target, lazy))
    return edges


def violations(edges: list[ImportEdge]) -> list[str]:
    """Each import that breaks the rules, as `file:line: what`."""
    problems = []
    for edge in edges:
        if edge.target == edge.source:
            continue
        allowed = MODULE_LEVEL[edge.source] | (LAZY_ONLY.get(edge.source, set()) if edge.lazy else set())
        if edge.target in allowed:
            continue
        how = "inside a function" if edge.lazy else "at module level"
        if edge.target in LAZY_ONLY.get(edge.source, set()):
            rule = f"{edge.source} may import {edge.target} only inside a function"
        else:
            rule = f"{edge.source} may import only {sorted(allowed) or 'nothing of ours'}"
        problems.append(f"{edge.file}:{edge.line}: imports {edge.module} {how}; {rule}")
    return problems


def package_cycle(edges: list[ImportEdge]) -> list[str] | None:
    """A cycle between top-level packages (lazy imports included), or None."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if edge.target != edge.source:
            graph.setdefault(edge.source, set()).add(edge.target)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        return list(err.args[1])
    return None


# --------------------------------------------------------------------------- the tree


@pytest.fixture(scope="module")
def tree_edges() -> list[ImportEdge]:
    return import_edges(ROOT)


def test_the_tree_follows_the_import_rules(tree_edges):
    assert violations(tree_edges) == []


def test_no_cycle_between_packages(tree_edges):
    assert package_cycle(tree_edges) is None


def test_the_parse_sees_every_package_and_the_lazy_cli_imports(tree_edges):
    # Guards the checker against silently looking at nothing.
    sources = {e.source for e in tree_edges}
    assert set(PACKAGES) - {"contracts"} <= sources
    lazy_hub = {e.target for e in tree_edges if e.source == "hub" and e.lazy}
    assert "trainer" in lazy_hub  # `envhub demo` resolves the SmolLM2 folder through the trainer
    assert any(e.source == "agent" and e.target == "contracts" for e in tree_edges)


# --------------------------------------------------------------------------- the checker itself


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


def test_checker_flags_imports_against_the_rules(tmp_path):
    root = _write(tmp_path, {
        "contracts/models.py": "from servers.spec import EnvSpec\n",
        "servers/state.py": "def f():\n    from synth.envs import draft\n",
        "synth/walk.py": "import hub.cli\n",
        "agent/rollout.py": "from ..servers import executor\n",
        "trainer/data.py": "async def load():\n    import synth.tasks\n",
        "hub/hosting/app.py": "from agent.engine import collect\n",
        "hub/cli.py": "def main():\n    from agent.cli import handle\n    from trainer.cli import run\n",
        "hub/commands/serve.py": "import importlib\nimportlib.import_module('agent.cli')\n",
        "hub/commands/tasks.py": "from ...synth.tasks import generate\nfrom . import demo\n",
    })
    problems = violations(import_edges(root))
    flagged = {p.split(":")[0] for p in problems}
    assert flagged == {"contracts/models.py", "servers/state.py", "synth/walk.py", "agent/rollout.py",
                       "trainer/data.py", "hub/hosting/app.py", "hub/commands/serve.py"}
    hub_problem = next(p for p in problems if p.startswith("hub/hosting/app.py"))
    assert "only inside a function" in hub_problem and "at module level" in hub_problem
    assert any("servers/state.py:2: imports synth.envs inside a function" in p for p in problems)
    # relative imports resolve to the package they name
    assert any(p.startswith("agent/rollout.py:1: imports servers at module level") for p in problems)


def test_checker_finds_a_cycle_through_a_lazy_import(tmp_path):
    root = _write(tmp_path, {
        "servers/a.py": "import contracts\n",
        "contracts/b.py": "def f():\n    import servers.a\n",
    })
    edges = import_edges(root)
    assert set(package_cycle(edges) or []) == {"servers", "contracts"}
    assert package_cycle([e for e in edges if e.source != "contracts"]) is None
