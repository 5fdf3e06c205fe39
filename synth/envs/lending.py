"""Lending key producers between the pieces of one split API.

A large API is cut into several environments (synth.graph.partition). The partition keeps each
resource's tools together as far as it can, but it judges resources by the names tools have
before synthesis; the finished environments may still hold a tool that needs a key (a thread's
id, a bucket's name) while the only tool producing that key (the list of notifications, the list
of buckets) went to a sibling piece. Such a tool can be called only with a value the user
recites, and no task can chain into it.

Here the finished environments are looked at by their final tables: for each key a piece
needs and cannot produce, a tool of a sibling piece of the same API whose result carries that
key is lent to it (a copy: the lender keeps it), preferring a plain list, then a create, and
tools that need no key of their own. The borrower is synthesized again with the loan and the
new build is taken only if it gained dependency edges while keeping every tool it kept before
and every round trip it passed; otherwise the piece stays as it was. Lent tools are counted once
in the build's kept tools (synth.envs.synthesize).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from servers.semantics import ToolSemantics, spec_semantics
from servers.spec import EnvSpec, parse_envspec

# Keys lent to one piece at most: the ones the most tools need come first.
MAX_LOANS = 3
# Preference among producers of one key: a tool returning rows of the key's own table (the list
# of organisations) before one whose rows only point at it (an event's organisation); then a
# list, a get, a create, anything else; then tools that need fewer keys themselves.
_KIND_RANK = {"find": 0, "get": 1, "insert": 2}
Rank = tuple[int, int, int, str]

Key = tuple[str, str]


@dataclass(frozen=True)
class Loan:
    """`tool` of environment `lender` is lent to environment `borrower`, for the key `key`
    (table, key column) that borrower's tools need."""

    borrower: str
    tool: str
    lender: str
    key: Key

    def to_json(self) -> dict[str, Any]:
        return {"env": self.borrower, "tool": self.tool, "from": self.lender, "key": f"{self.key[0]}.{self.key[1]}"}


def _needed_keys(spec: EnvSpec, sems: dict[str, ToolSemantics],
                 producers: dict[Key, list[tuple[Rank, str]]]) -> Counter[Key]:
    """Keys that tools of `spec` require as arguments and that no other tool of it produces
    without being given it, counted by how many tools need each."""
    produced = {key: {name for _, name in entries} for key, entries in producers.items()}
    needed: Counter[Key] = Counter()
    for name, sem in sems.items():
        for arg, key in sem.references(spec).items():
            if arg in sem.required and not produced.get(key, set()) - {name}:
                needed[key] += 1
    return needed


def _producers(spec: EnvSpec, sems: dict[str, ToolSemantics]) -> dict[Key, list[tuple[Rank, str]]]:
    """Key -> (rank, tool) for the tools of `spec` whose result carries it, best first."""
    ranked: dict[Key, list[tuple[Rank, str]]] = defaultdict(list)
    for name, sem in sems.items():
        required_keys = [key for arg, key in sem.references(spec).items() if arg in sem.required]
        for key in sem.provided_keys(spec):
            if key in required_keys:
                continue  # it must be given the key it would produce
            direct = 0 if sem.output_table == key[0] else 1
            ranked[key].append(((direct, _KIND_RANK.get(sem.kind, 3), len(required_keys), name), name))
    return {key: sorted(entries) for key, entries in ranked.items()}


@dataclass
class _Piece:
    name: str
    apis: frozenset[str]
    spec: EnvSpec
    sems: dict[str, ToolSemantics]


def plan_loans(specs: dict[str, dict[str, Any]], apis: dict[str, frozenset[str]]) -> dict[str, list[Loan]]:
    """Borrower env name -> the loans that would give it producers of the keys it lacks.

    `specs`: env name -> its spec JSON (passing environments only); `apis`: env name -> the APIs
    of its tools. A loan comes only from an environment sharing an API with the borrower.
    Deterministic: borrowers, keys and lenders are visited in name order.
    """
    pieces = {name: _Piece(name, apis[name], spec := parse_envspec(data), spec_semantics(spec))
              for name, data in sorted(specs.items())}
    by_api: dict[str, list[str]] = defaultdict(list)
    for name, piece in pieces.items():
        for api in piece.apis:
            by_api[api].append(name)
    producers = {name: _producers(piece.spec, piece.sems) for name, piece in pieces.items()}
    plans: dict[str, list[Loan]] = {}
    for name, piece in pieces.items():
        needed = _needed_keys(piece.spec, piece.sems, producers[name])
        if not needed:
            continue
        siblings = sorted({other for api in piece.apis for other in by_api[api] if other != name})
        loans: list[Loan] = []
        for key in sorted(needed, key=lambda k: (-needed[k], k)):
            offers = sorted((rank, lender, tool) for lender in siblings
                            for rank, tool in producers[lender].get(key, []) if tool not in piece.sems)
            if offers:
                _, lender, tool = offers[0]
                loans.append(Loan(name, tool, lender, key))
            if len(loans) == MAX_LOANS:
                break
        if loans:
            plans[name] = loans
    return plans


def improves(before: dict[str, Any], after: dict[str, Any] | None, kept_before: list[str],
             kept_after: list[str], trips_before: list[dict[str, Any]], trips_after: list[dict[str, Any]]) -> bool:
    """Whether the rebuilt environment (`after`) is to be taken over the one built without loans:
    more dependency edges, every tool kept before still kept, and no fewer round trips passed."""
    if after is None or not set(kept_before) <= set(kept_after):
        return False
    passed_before = sum(1 for t in trips_before if t["failed_step"] is None)
    passed_after = sum(1 for t in trips_after if t["failed_step"] is None)
    edges_before = len(before.get("dependencies") or [])
    edges_after = len(after.get("dependencies") or [])
    return edges_after > edges_before and passed_after >= passed_before
