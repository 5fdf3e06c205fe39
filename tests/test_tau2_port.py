"""τ²-bench retail and airline, ported: every base task's gold actions, replayed through a real hub
on the port, leave a database with τ²'s own hash after the same actions in τ²'s environment."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from mcp import Client

pytest.importorskip("tau2.domains.retail.tools", reason="τ²-bench is not installed: pip install 'envhub[tau2]'")
from tau2.utils import get_dict_hash  # noqa: E402

from servers.spec import dump_envspec  # noqa: E402
from synth.importers.tau2.build import build_envspec, env_name, gold_calls  # noqa: E402
from synth.importers.tau2.compare import Tau2Runner  # noqa: E402
from synth.importers.tau2.inverse import db_model_from_state  # noqa: E402
from synth.importers.tau2.source import load_domain  # noqa: E402
from synth.importers.tau2.tables import db_from_rows  # noqa: E402
from tests.hubserver import running_hub  # noqa: E402

BASE_TASKS = {"retail": 114, "airline": 50}


@pytest.fixture(scope="module")
def ported(tmp_path_factory):
    """One hub serving both ported environments; τ² runners over τ²'s own databases."""
    build = tmp_path_factory.mktemp("tau2-build")
    (build / "envs").mkdir()
    domains = {name: load_domain(name) for name in BASE_TASKS}
    for domain in domains.values():
        dump_envspec(build_envspec(domain), build / "envs" / f"{env_name(domain.name)}.json")
    runners = {name: Tau2Runner(domain) for name, domain in domains.items()}
    with running_hub(build) as base_url:
        yield base_url, domains, runners


def _state(base_url: str, episode_id: str, rows: bool) -> dict:
    response = httpx2.get(f"{base_url}/episodes/{episode_id}/state", params={"rows": 1} if rows else {}, timeout=60)
    response.raise_for_status()
    return response.json()


def _tau2_hash_of_rows(domain: str, runner: Tau2Runner, state: dict, expected: str) -> str:
    """τ²'s hash of the rows mapped back. τ²'s hashing function is applied to the mapped dict
    first; only when that differs is the dict validated by τ²'s model (whose dump it must then
    equal), which settles type-only differences (100 vs 100.0) the way τ²'s own hash would."""
    mapped = db_from_rows(state["rows"], runner.domain.db_class)
    quick = get_dict_hash(mapped)
    if quick == expected:
        return quick
    return db_model_from_state(domain, state).get_hash()


async def _replay(base_url: str, domain: str, calls: list[dict], hash_before_last: bool
                  ) -> tuple[list[tuple[bool, str]], str | None, dict]:
    """The calls through the hub's MCP endpoint on a fresh episode: outcomes, the envhub state hash
    before the last call (when asked), and the final state with rows."""
    created = httpx2.post(f"{base_url}/envs/{env_name(domain)}/episodes", json={}, timeout=60)
    created.raise_for_status()
    episode = created.json()
    outcomes: list[tuple[bool, str]] = []
    before_last = episode["state_hash"] if len(calls) == 1 else None
    try:
        async with Client(episode["mcp_url"]) as client:
            for i, call in enumerate(calls):
                if hash_before_last and i == len(calls) - 1 and i > 0:
                    before_last = _state(base_url, episode["episode_id"], rows=False)["state_hash"]
                result = await client.call_tool(call["name"], call["arguments"])
                outcomes.append((not result.is_error, result.content[0].text if result.content else ""))
        final = _state(base_url, episode["episode_id"], rows=True)
    finally:
        httpx2.delete(f"{base_url}/episodes/{episode['episode_id']}", timeout=60)
    return outcomes, before_last, final


@pytest.mark.slow
@pytest.mark.parametrize("domain", list(BASE_TASKS))
async def test_every_base_task_replays_to_tau2s_own_hash(ported, domain):
    base_url, domains, runners = ported
    tasks = domains[domain].tasks
    assert len(tasks) == BASE_TASKS[domain]
    runner = runners[domain]
    write_tools = {name for name in runner.domain.tools(runner.base).get_tools()
                   if runner.domain.tools(runner.base).tool_type(name).value == "write"}
    matched, mismatches, controls, control_failures = 0, [], 0, []
    for task in tasks:
        calls = gold_calls(task)
        theirs = runner.run(calls)
        expected = theirs.hash()
        last_writes = bool(calls) and calls[-1]["name"] in write_tools
        ours, before_last, final = await _replay(base_url, domain, calls, hash_before_last=last_writes)
        ok_theirs = [ok for ok, _ in theirs.outcomes]
        ok_ours = [ok for ok, _ in ours]
        our_hash = _tau2_hash_of_rows(domain, runner, final, expected)
        # Same calls fail, with τ²'s messages, and the databases hash alike.
        same_errors = all(t == o for t, o in zip(theirs.outcomes, ours, strict=True) if not t[0])
        if ok_theirs == ok_ours and same_errors and our_hash == expected:
            matched += 1
        else:
            mismatches.append({"task": task["id"], "ok_tau2": ok_theirs, "ok_port": ok_ours,
                               "errors": [(t[1], o[1]) for t, o in zip(theirs.outcomes, ours, strict=True)
                                          if t[0] != o[0] or not t[0]]})
        # Negative control: without its last call, a task whose last call writes ends elsewhere.
        if last_writes and ok_ours[-1]:
            controls += 1
            if before_last == final["state_hash"]:
                control_failures.append(task["id"])
    assert matched == len(tasks), f"{matched}/{len(tasks)} match; first mismatches: {json.dumps(mismatches[:3])[:3000]}"
    assert controls > 0 and control_failures == [], control_failures


def test_copy_on_access_view_agrees_with_a_fresh_tau2_database():
    """The harness's shortcut (one loaded db, entities copied when looked up) changes nothing:
    the same calls on a freshly loaded database give the same hash, and runs stay independent."""
    domain = load_domain("retail")
    runner = Tau2Runner(domain)
    initial = runner.base.get_hash()
    writes = [t for t in domain.tasks if any(c["name"].startswith(("cancel", "exchange", "modify", "return"))
                                             for c in gold_calls(t))][:4]
    assert writes
    for task in writes:
        view = runner.run(gold_calls(task))
        fresh = runner.run(gold_calls(task), fresh=True)
        assert view.outcomes == fresh.outcomes
        assert view.hash() == fresh.hash() != initial
    assert runner.base.get_hash() == initial


def test_import_cli_writes_env_and_tasks(tmp_path: Path):
    from hub.cli import main

    assert main(["import", "tau2", "airline", "--out", str(tmp_path)]) == 0
    spec = json.loads((tmp_path / "envs" / "tau2-airline.json").read_text())
    assert spec["name"] == "tau2-airline" and "Airline Agent Policy" in spec["description"]
    assert {t["name"] for t in spec["tools"]} >= {"book_reservation", "update_reservation_flights"}
    assert all(t["operation"]["kind"] == "program" for t in spec["tools"])
    lines = [json.loads(line) for line in (tmp_path / "tasks.jsonl").read_text().splitlines()]
    assert len(lines) == 50
    domain = load_domain("airline")
    first = next(t for t in domain.tasks if t["evaluation_criteria"].get("communicate_info"))
    task = next(line for line in lines if line["task_id"] == str(first["id"]))
    assert task["env"] == "tau2-airline" and task["format"] == "envhub.task/1"
    assert task["gold_calls"] == gold_calls(first)
    assert task["expected_outputs"] == first["evaluation_criteria"]["communicate_info"]
    assert task["gold_state_hash"].startswith("sha256:")
    writes = [line for line in lines if line["kind"] == "write"]
    assert writes and len({line["gold_state_hash"] for line in writes}) > 1


def test_rows_to_db_prints_tau2s_database(tmp_path: Path, capsys):
    from hub.cli import main
    from servers.state import EnvRuntime, EpisodeStore

    domain = load_domain("retail")
    spec = build_envspec(domain)
    runtime = EnvRuntime(spec)
    episode = EpisodeStore({spec.name: runtime}).create(spec.name)
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({"episode_id": episode.id, "env": spec.name,
                                      "state_hash": episode.state_hash(), "rows": episode.rows()}))
    assert main(["import", "tau2", "retail", "--rows-to-db", str(state_file)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == domain.load_db().model_dump()
