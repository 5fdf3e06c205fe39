"""Lending key producers between the pieces of a split API (synth.envs.lending).

The fixture API (tests/data/split_notify_api.json) has notification threads (list, get, mark
read, delete) and repositories (list, create, get). The tests cut it by hand into a piece that
holds the thread tools but not the thread list, and a piece that holds the list: the first has
no dependency edge until the list is lent to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.envs.fidelity import build_counts
from synth.envs.lending import Loan, improves, plan_loans
from synth.envs.synthesize import (
    DomainResult,
    SynthSettings,
    kept_tool_count,
    lend_producers,
    synthesize_domain,
)
from synth.ingest import ingest_paths
from synth.tooldef import ToolDef

API = Path(__file__).parent / "data" / "split_notify_api.json"
THREAD_TOOLS = ["getThread", "markThreadRead", "deleteThread"]
OTHER_TOOLS = ["listThreads", "listRepos", "createRepo", "getRepo"]


@pytest.fixture(scope="module")
def tools() -> dict[str, ToolDef]:
    return {tool.name: tool for tool in ingest_paths([API]).tools}


def _pieces(tools: dict[str, ToolDef], api: str | None = None) -> list[tuple[str, str, list[ToolDef]]]:
    threads = [tools[n] for n in THREAD_TOOLS]
    if api is not None:
        threads = [t.model_copy(update={"api": api}) for t in threads]
    return [("notify-threads", "notify", threads), ("notify-repos", "notify", [tools[n] for n in OTHER_TOOLS])]


def _build(jobs: list[tuple[str, str, list[ToolDef]]]) -> list[DomainResult]:
    return [synthesize_domain(name, domain, piece, seed=0) for name, domain, piece in jobs]


def test_piece_without_its_key_producer_has_no_edge_before_lending(tools: dict[str, ToolDef]) -> None:
    threads, repos = _build(_pieces(tools))
    assert threads.spec_json is not None and repos.spec_json is not None
    assert threads.spec_json["dependencies"] == []
    assert repos.spec_json["dependencies"], "the repository piece chains its own list into get"


def test_plan_lends_the_list_of_the_needed_resource(tools: dict[str, ToolDef]) -> None:
    results = _build(_pieces(tools))
    specs = {r.name: r.spec_json for r in results if r.spec_json is not None}
    plans = plan_loans(specs, {name: frozenset({"Notify"}) for name in specs})
    assert plans == {"notify-threads": [Loan("notify-threads", "listThreads", "notify-repos", ("threads", "thread_id"))]}


def test_no_loan_between_pieces_of_different_apis(tools: dict[str, ToolDef]) -> None:
    results = _build(_pieces(tools))
    specs = {r.name: r.spec_json for r in results if r.spec_json is not None}
    assert plan_loans(specs, {"notify-threads": frozenset({"A"}), "notify-repos": frozenset({"B"})}) == {}


def test_lending_rebuilds_the_borrower_with_edges_and_leaves_the_lender_alone(tools: dict[str, ToolDef]) -> None:
    jobs = _pieces(tools)
    results = _build(jobs)
    lender_before = results[1].spec_text
    loans = lend_producers(jobs, results, SynthSettings(workers=1, progress=False), tools, lambda **_: None)
    threads, repos = results
    assert [loan.tool for loan in loans] == ["listThreads"]
    assert threads.lent == ["listThreads"]
    edges = {(d["source"], d["target"]) for d in threads.spec_json["dependencies"]}
    assert edges == {("listThreads", t) for t in THREAD_TOOLS}
    assert set(threads.tools_kept) == set(THREAD_TOOLS) | {"listThreads"}
    assert repos.spec_text == lender_before and repos.lent == []
    # The lent tool is counted once, where it came from: 3 + 4 distinct tools.
    assert kept_tool_count(results) == 7
    assert threads.tools_in == 3, "the borrower's own tools, not the loan"
    # The fidelity counts cover each environment's own tools: the lent copy is not counted again.
    own = build_counts([threads.spec_json], lent={"notify-threads": threads.lent})
    assert (own["tools"], own["tools_without_dependency"], own["environments_without_dependency"]) == (3, 0, 0)
    assert build_counts([threads.spec_json])["tools"] == 4


def test_lending_is_deterministic(tools: dict[str, ToolDef]) -> None:
    texts = []
    for _ in range(2):
        jobs = _pieces(tools)
        results = _build(jobs)
        lend_producers(jobs, results, SynthSettings(workers=1, progress=False), tools, lambda **_: None)
        texts.append([r.spec_text for r in results])
    assert texts[0] == texts[1]


def test_improves_needs_more_edges_no_lost_tool_and_no_lost_round_trip() -> None:
    before = {"dependencies": []}
    after = {"dependencies": [{"source": "a", "target": "b"}]}
    passed = [{"failed_step": None}]
    failed = [{"failed_step": "get"}]
    assert improves(before, after, ["b"], ["a", "b"], passed, passed)
    assert not improves(before, None, ["b"], [], passed, passed), "a rebuild that failed"
    assert not improves(before, before, ["b"], ["a", "b"], passed, passed), "no new edge"
    assert not improves(before, after, ["b", "c"], ["a", "b"], passed, passed), "tool c was lost"
    assert not improves(before, after, ["b"], ["a", "b"], passed, failed), "a round trip was lost"
