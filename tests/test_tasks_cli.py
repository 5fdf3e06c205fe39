"""`envhub tasks`: register on a fresh parser, run the handler, read the JSONL back."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from hub.commands import tasks as tasks_command
from synth.tasks.generate import _example_paths


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="envhub")
    tasks_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_writes_valid_jsonl_for_a_build_folder(tmp_path: Path):
    envs = tmp_path / "build" / "envs"
    envs.mkdir(parents=True)
    for path in _example_paths():
        shutil.copy(path, envs / path.name)
    (envs / "broken.json").write_text("{not json", encoding="utf-8")
    out = tmp_path / "build" / "tasks.jsonl"
    rc = _run(["tasks", str(tmp_path / "build"), "--per-env", "4", "--out", str(out), "--seed", "5",
               "--max-steps", "2"])
    assert rc == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    tasks = [json.loads(line) for line in lines]
    assert len(tasks) >= 4 * len(_example_paths()) - 2
    assert len({t["task_id"] for t in tasks}) == len(tasks)
    assert all(t["format"] == "envhub.task/1" and 1 <= t["steps"] <= 2 for t in tasks)


def test_cli_without_build_dir_uses_examples_and_rejects_bad_input(tmp_path: Path, capsys):
    out = tmp_path / "t.jsonl"
    assert _run(["tasks", "--per-env", "2", "--out", str(out)]) == 0
    envs = {json.loads(line)["env"] for line in out.read_text(encoding="utf-8").splitlines()}
    assert envs == {json.loads(p.read_text())["name"] for p in _example_paths()}
    assert _run(["tasks", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert _run(["tasks", "--per-env", "0", "--out", str(out)]) == 2
