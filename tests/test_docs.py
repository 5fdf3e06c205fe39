"""The user docs stay true: README.md is a short front door, links and file paths resolve, and every
`envhub` command shown in README.md and docs/ parses with the CLI (subcommand and flags)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from hub.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_LINES = 200

# The reference pages README.md links to, one per stage plus the cross-cutting ones.
EXPECTED_PAGES = [
    "docs/synth.md",
    "docs/tasks.md",
    "docs/serving.md",
    "docs/collect.md",
    "docs/train.md",
    "docs/CONTRACTS.md",
    "BENCHMARKS.md",
]

# Paths written on branches merged alongside this one. One listed here may be missing; once it
# exists, test_awaiting_pages_are_still_missing fails until it is removed from this set, so after the
# merge the set is empty and every expected page must exist.
AWAITING_MERGE = {
}

OUR_FOLDERS = ("contracts", "servers", "synth", "hub", "agent", "trainer", "tests", "bench", "docs")
FILE_SUFFIXES = (".py", ".md", ".json", ".yaml", ".yml", ".jinja", ".toml")


def doc_pages() -> list[Path]:
    return [README, ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]


def relative_links(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    targets = re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text)
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def code_blocks(page: Path, languages: tuple[str, ...] = ("bash", "sh", "")) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [body for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M) if lang in languages]


def test_readme_is_a_short_front_door_that_starts_with_the_two_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines (at most {MAX_README_LINES})"
    body = [line for line in lines[1:] if line.strip()]
    assert lines[0].startswith("# "), "README.md starts with its title"
    assert body[0] == "```bash", "the first thing after the title is the two commands"
    commands = [line.split("#")[0].strip() for line in body[1 : body.index("```", 1)]]
    assert commands == ["make demo", "make test"]


def test_expected_pages_exist():
    missing = [page for page in EXPECTED_PAGES if not (ROOT / page).is_file() and page not in AWAITING_MERGE]
    assert not missing, f"pages README.md promises are missing: {missing}"
    readme_links = {str((README.parent / link.split("#")[0]).resolve()) for link in relative_links(README)}
    unlinked = [page for page in EXPECTED_PAGES if str((ROOT / page).resolve()) not in readme_links]
    assert not unlinked, f"README.md does not link: {unlinked}"


def test_awaiting_pages_are_still_missing():
    landed = sorted(path for path in AWAITING_MERGE if (ROOT / path).exists())
    assert not landed, f"these pages exist now: remove them from AWAITING_MERGE in {Path(__file__).name}: {landed}"


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for link in relative_links(page):
        target = (page.parent / link.split("#")[0]).resolve()
        relative = target.relative_to(ROOT).as_posix() if target.is_relative_to(ROOT) else str(target)
        if not target.exists() and relative not in AWAITING_MERGE:
            broken.append(link)
    assert not broken, f"{page.name} links to files that do not exist: {broken}"


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_file_paths_named_in_the_docs_exist(page):
    text = page.read_text(encoding="utf-8")
    named = set()
    for token in re.findall(r"`([^`\s]+)`", text):
        path = token.rstrip(".,:;")
        if path.split("/")[0] in OUR_FOLDERS and "/" in path and path.endswith((*FILE_SUFFIXES, "/")):
            named.add(path)
    missing = sorted(p for p in named if not (ROOT / p).exists() and p not in AWAITING_MERGE)
    assert not missing, f"{page.name} names files that do not exist: {missing}"


def envhub_commands(page: Path) -> list[list[str]]:
    commands = []
    for block in code_blocks(page):
        logical = re.sub(r"\\\n\s*", " ", block)
        for line in logical.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip().rstrip("&").strip()
            words = shlex.split(line, comments=False) if line else []
            while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                words.pop(0)  # ENVHUB_TOKEN=... envhub serve
            if words and words[0] in {"envhub", ".venv/bin/envhub"}:
                commands.append(words[1:])
    return commands


def subcommand_options() -> dict[str, set[str]]:
    """Subcommand -> its options; a subcommand with subcommands of its own (`envhub import tau2`)
    takes the options of all of them."""

    def options_of(parser) -> set[str]:
        found = {opt for action in parser._actions for opt in action.option_strings}
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for sub in action.choices.values():
                    found |= options_of(sub)
        return found

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: options_of(sub) for name, sub in subparsers.choices.items()}


def test_every_envhub_command_in_the_docs_parses():
    options = subcommand_options()
    problems, seen = [], 0
    for page in doc_pages():
        for words in envhub_commands(page):
            seen += 1
            if not words or words[0] not in options:
                problems.append(f"{page.name}: unknown subcommand in `envhub {' '.join(words)}`")
                continue
            for word in words[1:]:
                flag = word.split("=")[0]
                if flag.startswith("--") and flag not in options[words[0]]:
                    problems.append(f"{page.name}: `envhub {words[0]}` has no option {flag}")
    assert seen >= 20, f"found only {seen} envhub commands in the docs: the scan is broken"
    assert not problems, "\n".join(problems)


def test_the_command_check_catches_a_wrong_flag(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\nenvhub tasks build/ --per-env 3 --no-such-flag \\\n    --seed 1\n```\n")
    (words,) = envhub_commands(page)
    assert words[0] == "tasks" and "--no-such-flag" in words and "--seed" in words
    assert "--no-such-flag" not in subcommand_options()["tasks"]


def test_make_targets_named_in_the_docs_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    for page in doc_pages():
        for target in re.findall(r"`make ([a-z-]+)`", page.read_text(encoding="utf-8")):
            assert target in targets, f"{page.name} names `make {target}`, which the Makefile lacks"
    assert {"demo", "test", "setup"} <= targets


def test_benchmark_numbers_live_in_one_place():
    assert not (ROOT / "docs" / "bench").exists(), "BENCHMARKS.md is the one source of benchmark numbers"
    assert not (ROOT / "docs" / "TEAM.md").exists()
