"""Walks and argument drawing on a small spec that declares no dependencies at all."""

from __future__ import annotations

import random

from servers.executor import execute_tool
from servers.seedgen import next_key
from servers.semantics import spec_semantics as analyse
from servers.spec import parse_envspec
from servers.state import EnvRuntime, EpisodeStore
from synth.arguments import ArgumentDrawer
from synth.tasks import generate_tasks
from synth.tasks.walk import WalkBuilder, dependency_edges

SPEC = {
    "name": "shelf",
    "tables": [
        {"name": "shelves", "primary_key": "shelf_id", "id_prefix": "SH-",
         "columns": [{"name": "shelf_id"}, {"name": "room", "type": "enum", "enum": ["hall", "study"]}]},
        {"name": "books", "primary_key": "book_id", "id_prefix": "BK-",
         "columns": [{"name": "book_id"}, {"name": "title"}, {"name": "shelf_id"},
                     {"name": "status", "type": "enum", "enum": ["in", "lent", "lost"]},
                     {"name": "pages", "type": "integer"}],
         "foreign_keys": [{"column": "shelf_id", "ref_table": "shelves", "ref_column": "shelf_id"}]},
    ],
    "tools": [
        {"name": "find_books", "description": "Find books.",
         "input_schema": {"type": "object", "properties": {"status": {"type": "string"}, "shelf_id": {"type": "string"}}},
         "operation": {"kind": "find", "table": "books", "filters": [
             {"column": "status", "value": {"arg": "status"}}, {"column": "shelf_id", "value": {"arg": "shelf_id"}}]}},
        {"name": "get_shelf", "description": "A shelf.",
         "input_schema": {"type": "object", "properties": {"shelf_id": {"type": "string"}}, "required": ["shelf_id"]},
         "operation": {"kind": "get", "table": "shelves", "key": {"arg": "shelf_id"}}},
        {"name": "lend_book", "description": "Lend a book.",
         "input_schema": {"type": "object", "properties": {"book_id": {"type": "string"}}, "required": ["book_id"]},
         "operation": {"kind": "update", "table": "books", "key": {"arg": "book_id"},
                       "set": {"status": {"const": "lent"}},
                       "preconditions": [{"column": "status", "value": {"const": "in"}}]}},
        {"name": "add_book", "description": "Add a book.",
         "input_schema": {"type": "object", "properties": {"title": {"type": "string"}, "shelf_id": {"type": "string"},
                                                           "pages": {"type": "integer"}},
                          "required": ["title", "shelf_id"]},
         "operation": {"kind": "insert", "table": "books", "values": {
             "title": {"arg": "title"}, "shelf_id": {"arg": "shelf_id"}, "pages": {"arg": "pages"},
             "status": {"const": "in"}}}},
    ],
    "seed": {"rows": {
        "shelves": [{"shelf_id": "SH-1", "room": "hall"}, {"shelf_id": "SH-2", "room": "study"}],
        "books": [{"book_id": f"BK-{n}", "title": f"Book {n}", "shelf_id": f"SH-{1 + n % 2}",
                   "status": ["in", "lent", "lost"][n % 3], "pages": 100 + n} for n in range(1, 9)],
    }},
}


def test_implied_edges_chain_lookups_into_keys():
    spec = parse_envspec(SPEC)
    shapes = analyse(spec)
    found = dependency_edges(spec, shapes)
    edges = {(e.source, e.target, e.argument, e.column) for e in found}
    assert ("find_books", "lend_book", "book_id", "book_id") in edges
    # a lent book's foreign key leads to its shelf
    assert ("lend_book", "get_shelf", "shelf_id", "shelf_id") in edges
    # find_books is searched by shelf_id: handing that back would go in a circle
    assert ("find_books", "get_shelf", "shelf_id", "shelf_id") not in edges
    builder = WalkBuilder(spec, shapes)
    # a write never feeds the key of another write, nor a read
    for e in found:
        if e.source in ("add_book", "lend_book"):
            assert not builder._natural(e), e
    rng = random.Random(0)
    for _ in range(30):
        walk = builder.draw(rng, "read", 3)
        assert walk is not None and all(shapes[t].read_only for t in walk.tools)
        walk = builder.draw(rng, "write", 3)
        assert walk is not None and not shapes[walk.tools[-1]].read_only


def test_drawn_keys_meet_preconditions_and_new_keys_are_free():
    spec = parse_envspec(SPEC)
    shapes = analyse(spec)
    store = EpisodeStore({"shelf": EnvRuntime(spec)})
    episode = store.create("shelf")
    drawer = ArgumentDrawer(spec, random.Random(0))
    for _ in range(20):
        args = drawer.draw(shapes["lend_book"], episode.rows(), {})
        row = next(r for r in episode.rows()["books"] if r["book_id"] == args["book_id"])
        assert row["status"] == "in"
        insert = drawer.draw(shapes["add_book"], episode.rows(), {})
        assert insert["shelf_id"] in {"SH-1", "SH-2"} and isinstance(insert["title"], str)
    keys = [r["book_id"] for r in episode.rows()["books"]]
    # the runtime's key rule (servers.seedgen.next_key): prefixed numbers start at 1001
    assert next_key(spec.table("books"), keys) == "BK-1001" and "BK-1001" not in keys
    store.close_all()


def _assert_gold_replays(spec, tasks: list[dict]) -> None:
    """Every task's gold calls succeed on a fresh episode and end in its gold state hash."""
    runtime = EnvRuntime(spec)
    store = EpisodeStore({spec.name: runtime})
    try:
        for task in tasks:
            episode = store.create(spec.name)
            for call in task["gold_calls"]:
                assert execute_tool(runtime, episode.conn, call["name"], call["arguments"]).ok
            assert episode.state_hash() == task["gold_state_hash"]
    finally:
        store.close_all()


def test_generation_without_declared_dependencies_replays():
    spec = parse_envspec(SPEC)
    tasks = [t.to_json() for t in generate_tasks([spec], 10, seed=0, max_steps=2)]
    assert {t["kind"] for t in tasks} == {"read", "write"}
    _assert_gold_replays(spec, tasks)
    assert not any("lend_book" in t["goal"] or "find_books" in t["goal"] for t in tasks)


def test_writes_that_change_nothing_are_dropped_and_counted():
    # Shelving a book that is already in changes nothing: such walks must be dropped as no-ops.
    data = {**SPEC, "tools": [t for t in SPEC["tools"] if t["name"] == "find_books"] + [
        {"name": "shelve_book", "description": "Put a book back.",
         "input_schema": {"type": "object", "properties": {"book_id": {"type": "string"}}, "required": ["book_id"]},
         "operation": {"kind": "update", "table": "books", "key": {"arg": "book_id"},
                       "set": {"status": {"const": "in"}}}}]}
    spec = parse_envspec(data)
    reports = []
    tasks = [t.to_json() for t in generate_tasks([spec], 12, seed=0, max_steps=1, read_fraction=0.0, reports=reports)]
    runtime = EnvRuntime(spec)
    store = EpisodeStore({"shelf": runtime})
    initial = store.create("shelf").state_hash()
    assert tasks and all(t["gold_state_hash"] != initial for t in tasks)
    # only the 6 books that are not "in" can be shelved: everything beyond is a no-op or a duplicate
    assert len(tasks) == 6
    assert reports[0].noops > 0 and reports[0].duplicates > 0
    store.close_all()


def test_a_bulk_delete_is_fed_its_list_of_keys_from_a_lookup():
    # `remove_books(book_ids)` deletes every book it lists: the lookup's key feeds the list.
    data = {**SPEC, "tools": [*SPEC["tools"], {
        "name": "remove_books", "description": "Remove books by their ids.",
        "input_schema": {"type": "object", "properties": {"book_ids": {"type": "array", "items": {"type": "string"}}},
                         "required": ["book_ids"]},
        "operation": {"kind": "delete", "table": "books", "key": {"arg": "book_ids"}, "many": True}}]}
    spec = parse_envspec(data)
    shapes = analyse(spec)
    assert shapes["remove_books"].references(spec) == {"book_ids": ("books", "book_id")}
    edges = {(e.source, e.target, e.argument, e.column) for e in dependency_edges(spec, shapes)}
    assert ("find_books", "remove_books", "book_ids", "book_id") in edges
    store = EpisodeStore({"shelf": EnvRuntime(spec)})
    rows = store.create("shelf").rows()
    drawer = ArgumentDrawer(spec, random.Random(0))
    # A fed key becomes a one-key list; a drawn list holds keys that exist.
    assert drawer.draw(shapes["remove_books"], rows, {"book_ids": "BK-2"}) == {"book_ids": ["BK-2"]}
    drawn = drawer.draw(shapes["remove_books"], rows, {})
    assert drawn is not None and set(drawn["book_ids"]) <= {r["book_id"] for r in rows["books"]}
    tasks = [t.to_json() for t in generate_tasks([spec], 24, seed=0, max_steps=3, read_fraction=0.0)]
    removals = [c for t in tasks for c in t["gold_calls"] if c["name"] == "remove_books"]
    assert removals and all(isinstance(c["arguments"]["book_ids"], list) for c in removals)
    fed = [t for t in tasks if [c["name"] for c in t["gold_calls"]][-2:] == ["find_books", "remove_books"]]
    assert fed, "no walk hands a looked-up book to the bulk delete"
    _assert_gold_replays(spec, tasks)
    store.close_all()
