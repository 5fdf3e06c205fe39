"""The contract models: docs/CONTRACTS.md matches them, files round-trip byte for byte, errors name file:line: field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from contracts import (
    TASK_FORMAT,
    TRAJECTORY_FORMAT,
    Condition,
    ContractError,
    Filters,
    GoldCall,
    InitialState,
    Message,
    Policy,
    Refusal,
    Rejected,
    TaskSpec,
    Timing,
    Tool,
    ToolCall,
    Trajectory,
    Usage,
    read_jsonl,
    scan_jsonl,
    write_jsonl,
)
from contracts.base import Contract

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "CONTRACTS.md").read_text(encoding="utf-8")
EXAMPLE_MODELS: dict[str, type[Contract]] = {"TaskSpec": TaskSpec, "Trajectory": Trajectory}
TABLE_MODELS: dict[str, type[Contract]] = {
    model.__name__: model
    for model in (TaskSpec, InitialState, GoldCall, Refusal, Condition, Trajectory, Message, ToolCall, Tool, Policy, Filters, Timing, Usage)
}

TASK = {
    "format": "envhub.task/1", "task_id": "order-desk-000004", "env": "order-desk", "initial_state": {"seed": 1},
    "kind": "write", "goal": "Ship order O-1013 to 104 Maple Street.", "user_facts": {"order_id": "O-1013"},
    "gold_calls": [{"name": "update_shipping_address",
                    "arguments": {"order_id": "O-1013", "shipping_address": "104 Maple Street"}}],
    "gold_state_hash": "sha256:27f7", "expected_outputs": [], "steps": 1, "seed": 4075373238,
}


# --------------------------------------------------------------------------- the page


def _examples() -> list[tuple[str, str]]:
    return re.findall(r"<!-- example: (\w+) -->\s*```json\n(.*?)\n```", PAGE, flags=re.S)


def _field_tables() -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    for label, body in re.findall(r"<!-- fields: (\w+) -->\n((?:\|.*\n)+)", PAGE):
        rows = body.strip().splitlines()[2:]  # after the header and the |---| line
        tables[label] = [re.match(r"\| `(\w+)` \|", row).group(1) for row in rows]
    return tables


def test_every_labelled_example_is_exactly_what_the_model_writes():
    examples = _examples()
    assert sorted({label for label, _ in examples}) == sorted(EXAMPLE_MODELS)
    assert all(sum(label == name for label, _ in examples) >= 2 for name in EXAMPLE_MODELS)
    for label, text in examples:
        data = json.loads(text)
        record = EXAMPLE_MODELS[label].parse(data, f"docs/CONTRACTS.md {label} example")
        # Same keys, same order, same values: the example is a line a producer writes.
        assert record.to_line() == json.dumps(data, ensure_ascii=False), label


def test_every_json_block_in_the_task_and_trajectory_sections_is_a_checked_example():
    sections = re.split(r"\n## ", PAGE)
    for section in sections:
        if section.startswith(("TaskSpec", "Trajectory")):
            blocks = section.count("```json")
            labelled = len(re.findall(r"<!-- example: \w+ -->\s*```json", section))
            assert blocks == labelled >= 2, section.splitlines()[0]


def test_field_tables_list_exactly_the_model_fields_in_file_order():
    tables = _field_tables()
    assert set(tables) == set(TABLE_MODELS)
    for label, fields in tables.items():
        assert fields == list(TABLE_MODELS[label].model_fields), label


def test_page_names_the_format_strings_and_the_hosting_package():
    assert f"format `{TASK_FORMAT}`" in PAGE and f"format `{TRAJECTORY_FORMAT}`" in PAGE
    assert "## Hub HTTP API (`hub/hosting/`)" in PAGE
    assert "DESIGN.md" not in PAGE  # not part of the repository


# --------------------------------------------------------------------------- defined once


def test_each_format_string_is_defined_once_in_the_code():
    sources = [p for p in ROOT.rglob("*.py")
               if not {"tests", ".venv", "bench"} & set(p.relative_to(ROOT).parts)]
    for literal in ('"envhub.task/1"', '"envhub.trajectory/1"', '"envhub.envspec/1"'):
        places = [str(p.relative_to(ROOT)) for p in sources for line in p.read_text(encoding="utf-8").splitlines()
                  if literal in line]
        assert places == ["contracts/formats.py"], (literal, places)


def test_the_agent_filters_are_the_contract_filters():
    from agent.filters import FILTER_NAMES

    assert FILTER_NAMES == ("valid", "state_match", "exact_match", "outputs", "refusal") == tuple(Filters.model_fields)


# --------------------------------------------------------------------------- round trips


def test_generated_tasks_round_trip_byte_for_byte(tmp_path):
    from synth.tasks import generate_tasks, write_tasks

    tasks = generate_tasks(None, per_env=3, seed=4, state_seeds=2)
    path = write_tasks(tasks, tmp_path / "tasks.jsonl")
    text = path.read_text(encoding="utf-8")
    lines = read_jsonl(path, TaskSpec)
    assert [line.record for line in lines] == tasks
    assert "".join(line.record.to_line() + "\n" for line in lines) == text
    # the encoding producers have always used: json.dumps defaults, non-ASCII kept
    assert text.splitlines()[0] == json.dumps(json.loads(text.splitlines()[0]), ensure_ascii=False)
    assert write_jsonl(tmp_path / "again.jsonl", [line.record for line in lines]).read_text(encoding="utf-8") == text


def test_sample_trajectories_round_trip_and_keep_their_message_shapes(tmp_path):
    from trainer.testing import sample_trajectories

    records = [Trajectory.parse(t) for t in sample_trajectories()]
    path = write_jsonl(tmp_path / "traj.jsonl", records)
    again = [line.record for line in read_jsonl(path, Trajectory)]
    assert again == records
    messages = json.loads(path.read_text(encoding="utf-8").splitlines()[0])["messages"]
    # No key appears that the producer did not write (a user turn gains no tool_calls: null).
    assert [list(m) for m in messages[:4]] == [["role", "content"], ["role", "content"],
                                              ["role", "content", "tool_calls"], ["role", "tool_call_id", "content"]]


def test_unknown_keys_survive_at_every_level_of_a_trajectory():
    line = json.dumps({
        "format": TRAJECTORY_FORMAT, "messages": [
            {"role": "user", "content": "hi", "name": "ana"},
            {"role": "assistant", "content": None, "refusal": None, "tool_calls": [
                {"id": "c0", "type": "function", "function": {"name": "f", "arguments": "{}", "extra": 1}, "index": 0}]},
            {"role": "tool", "tool_call_id": "c0", "content": "ok"},
            {"role": "assistant", "content": "done"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}],
        "filters": {"valid": True, "politeness": False}, "usage": {"prompt_tokens": 3, "total_tokens": 5},
        "metadata": {"source": "converted"},
    })
    data = Trajectory.from_line(line).to_json()
    assert data["metadata"] == {"source": "converted"}
    assert data["messages"][0]["name"] == "ana" and "refusal" in data["messages"][1]
    assert data["messages"][1]["tool_calls"][0]["index"] == 0
    assert data["messages"][1]["tool_calls"][0]["function"]["extra"] == 1
    assert data["tools"][0]["function"]["strict"] is True and "description" not in data["tools"][0]["function"]
    assert data["filters"]["politeness"] is False and Trajectory.from_line(line).filters.passed() is False
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 5}


def test_a_task_keeps_unknown_top_level_keys():
    task = TaskSpec.parse({**TASK, "difficulty": "hard"})
    assert task.to_json()["difficulty"] == "hard" and list(task.to_json())[-1] == "difficulty"


def test_a_flat_tool_call_is_read_as_wrapped():
    message = Message.model_validate({"role": "assistant", "tool_calls": [{"id": "c7", "name": "f", "arguments": {"a": 1}}]})
    call = message.tool_calls[0]
    assert call.id == "c7" and call.function.name == "f" and call.function.arguments == {"a": 1}
    assert call.to_json() == {"id": "c7", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}


def test_lines_split_on_newlines_only(tmp_path):
    record = Trajectory(messages=[Message(role="user", content="one\u2028two\u0085three"),
                                  Message(role="assistant", content="ok")], passed=True)
    path = write_jsonl(tmp_path / "t.jsonl", [record, record])
    assert [line.record for line in read_jsonl(path, Trajectory)] == [record, record]


def test_steps_default_to_the_number_of_gold_calls():
    task = TaskSpec.parse({key: value for key, value in TASK.items() if key != "steps"})
    assert task.steps == 1
    assert TaskSpec.parse({"task_id": "t", "env": "e", "goal": "g"}).to_json() == {
        "format": TASK_FORMAT, "task_id": "t", "env": "e", "initial_state": {"seed": None}, "kind": "write",
        "goal": "g", "user_facts": {}, "gold_calls": [], "gold_state_hash": None, "expected_outputs": [],
        "steps": 0, "seed": None}


# --------------------------------------------------------------------------- errors name file:line: field


def test_read_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "tasks.jsonl"
    missing_goal = {key: value for key, value in TASK.items() if key != "goal"}
    path.write_text(json.dumps(TASK) + "\n\n" + json.dumps(missing_goal) + "\n", encoding="utf-8")
    with pytest.raises(ContractError, match=r"^.*tasks\.jsonl:3: goal: field required$"):
        read_jsonl(path, TaskSpec)


@pytest.mark.parametrize(("line", "message"), [
    ("{broken", r"t\.jsonl:1: not valid JSON: "),
    ("[1, 2]", r"t\.jsonl:1: expected a JSON object, got list$"),
    (json.dumps({**TASK, "kind": "maybe"}), r"t\.jsonl:1: kind: input should be 'read', 'write' or 'refusal'$"),
    (json.dumps({**TASK, "task_id": ""}), r"t\.jsonl:1: task_id: string should have at least 1 character$"),
    (json.dumps({**TASK, "format": "envhub.task/2"}), r"t\.jsonl:1: format: input should be 'envhub.task/1'$"),
    (json.dumps({**TASK, "initial_state": {"seed": True}}), r"t\.jsonl:1: initial_state\.seed: input should be a valid integer"),
    (json.dumps({**TASK, "initial_state": {"seed": "3"}}), r"t\.jsonl:1: initial_state\.seed: input should be a valid integer"),
    (json.dumps({**TASK, "initial_state": {"rows": {}}}), r"t\.jsonl:1: initial_state\.rows: extra inputs are not permitted"),
    (json.dumps({**TASK, "gold_calls": [TASK["gold_calls"][0], {"arguments": {}}]}),
     r"t\.jsonl:1: gold_calls\[1\]\.name: field required$"),
    (json.dumps({**TASK, "expected_outputs": [3]}), r"t\.jsonl:1: expected_outputs\[0\]: input should be a valid string"),
    (json.dumps({**TASK, "user_facts": ["a"]}), r"t\.jsonl:1: user_facts: input should be an object"),
])
def test_tasks_are_refused_as_the_readers_refused_them(tmp_path, line, message):
    path = tmp_path / "t.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ContractError, match=message):
        read_jsonl(path, TaskSpec)


@pytest.mark.parametrize(("record", "message"), [
    ({"messages": []}, r"x:7: messages: expected a non-empty list"),
    ({"format": "other/1", "messages": [{"role": "user", "content": "x"}]}, r"x:7: format: input should be"),
    ({"messages": [{"role": "user", "content": "x"}, {"role": "robot", "content": "y"}]},
     r"x:7: messages\[1\]\.role: input should be 'system', 'user', 'assistant' or 'tool'$"),
    ({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": 3}}]}]},
     r"x:7: messages\[0\]\.tool_calls\[0\]\.function\.arguments: must be a JSON string or an object, got int$"),
    ({"messages": [{"content": "x"}]}, r"x:7: messages\[0\]\.role: field required"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": {}}, r"x:7: tools: input should be a valid array"),
    ({"messages": [{"role": "user", "content": "x"}], "filters": {"valid": "yes"}}, r"x:7: filters\.valid: "),
    ({"messages": [{"role": "user", "content": "x"}], "passed": 1}, r"x:7: passed: input should be a valid boolean"),
])
def test_trajectories_are_refused_with_the_field_path(record, message):
    with pytest.raises(ContractError, match=message):
        Trajectory.from_line(json.dumps(record), "x:7")


def test_an_error_record_may_have_no_messages_and_tools_may_be_null():
    record = Trajectory.from_line(json.dumps({"task_id": "t", "messages": [], "tools": None, "error": "boom"}))
    assert record.messages == [] and record.tools == [] and not record.passed


def test_scan_yields_bad_lines_instead_of_raising(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(TASK) + "\nnot json\n" + json.dumps({**TASK, "task_id": "b"}) + "\n"
                    + '{"task_id": "c", "go', encoding="utf-8")
    lines = list(scan_jsonl(path, TaskSpec))
    assert [type(line).__name__ for line in lines] == ["Located", "Rejected", "Located", "Rejected"]
    bad = [line for line in lines if isinstance(line, Rejected)]
    assert [line.where for line in bad] == [f"{path}:2", f"{path}:4"]
    assert str(bad[0].error).startswith(f"{path}:2: not valid JSON") and bad[1].text == '{"task_id": "c", "go'
    assert lines[2].record.task_id == "b" and lines[2].number == 3


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(ContractError, match=r"missing\.jsonl: cannot read"):
        read_jsonl(tmp_path / "missing.jsonl", TaskSpec)
    binary = tmp_path / "bin.jsonl"
    binary.write_bytes(b"\xff\xfe{}\n")
    with pytest.raises(ContractError, match=r"bin\.jsonl: not UTF-8 text"):
        read_jsonl(binary, TaskSpec)


def test_write_is_atomic(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [TaskSpec.parse(TASK)])

    def exploding():
        yield TaskSpec.parse({**TASK, "task_id": "new"})
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_jsonl(path, exploding())
    assert [line.record.task_id for line in read_jsonl(path, TaskSpec)] == [TASK["task_id"]]
