"""The executor: every operation kind, its errors, and that bad input never breaks an episode."""

from __future__ import annotations

import json

import pytest

from servers.executor import MAX_FIND_LIMIT, MAX_RESULT_CHARS, ToolOutcome, execute_tool
from servers.spec import parse_envspec
from servers.state import EnvRuntime, EpisodeStore


def _obj(props: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": props, "required": required or []}


S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741
N = {"type": "number"}

LAB = {
    "name": "lab",
    "tables": [
        {"name": "authors", "primary_key": "author_id",
         "columns": [{"name": "author_id", "type": "integer"}, {"name": "name", "nullable": False},
                     {"name": "active", "type": "boolean"}]},
        {"name": "notes", "primary_key": "note_id", "id_prefix": "N-",
         "columns": [{"name": "note_id"}, {"name": "author_id", "type": "integer"}, {"name": "title", "nullable": False},
                     {"name": "body"}, {"name": "stars", "type": "integer"}, {"name": "score", "type": "number"},
                     {"name": "tag", "type": "enum", "enum": ["work", "home", "misc"]}, {"name": "created", "type": "date"}],
         "foreign_keys": [{"column": "author_id", "ref_table": "authors", "ref_column": "author_id"}]},
    ],
    "tools": [
        {"name": "get_note", "description": "d", "input_schema": _obj({"note_id": S}, ["note_id"]),
         "operation": {"kind": "get", "table": "notes", "key": {"arg": "note_id"}, "fields": ["note_id", "title", "stars"]}},
        {"name": "get_author", "description": "d", "input_schema": _obj({"author_id": I}, ["author_id"]),
         "operation": {"kind": "get", "table": "authors", "key": {"arg": "author_id"}}},
        {"name": "find_notes", "description": "d",
         "input_schema": _obj({"text": S, "tags": {"type": "array", "items": S}, "min_stars": I, "author_id": I,
                               "limit": {"type": "integer", "minimum": 1, "maximum": 1000}}),
         "operation": {"kind": "find", "table": "notes", "filters": [
             {"column": "title", "op": "contains", "value": {"arg": "text"}},
             {"column": "tag", "op": "in", "value": {"arg": "tags"}},
             {"column": "stars", "op": "ge", "value": {"arg": "min_stars"}},
             {"column": "author_id", "op": "eq", "value": {"arg": "author_id"}}],
             "sort": [{"column": "stars", "descending": True}], "limit": {"arg": "limit"}}},
        {"name": "add_note", "description": "d",
         "input_schema": _obj({"author_id": I, "title": S, "body": S, "tag": S, "note_id": S}, ["title"]),
         "operation": {"kind": "insert", "table": "notes", "values": {
             "note_id": {"arg": "note_id"}, "author_id": {"arg": "author_id"}, "title": {"arg": "title"},
             "body": {"arg": "body"}, "tag": {"arg": "tag", "default": "misc"}, "stars": {"const": 0},
             "created": {"const": "2026-01-02"}}}},
        {"name": "add_author", "description": "d", "input_schema": _obj({"name": S}, ["name"]),
         "operation": {"kind": "insert", "table": "authors", "values": {"name": {"arg": "name"}, "active": {"const": True}}}},
        {"name": "rate_note", "description": "d", "input_schema": _obj({"note_id": S, "by": I}, ["note_id", "by"]),
         "operation": {"kind": "sequence", "steps": [
             {"bind": "old", "op": {"kind": "get", "table": "notes", "key": {"arg": "note_id"}}},
             {"bind": "new", "op": {"kind": "update", "table": "notes", "key": {"arg": "note_id"},
                                    "set": {"stars": {"op": "add", "left": {"ref": "old.stars"}, "right": {"arg": "by"}},
                                            "score": {"op": "mul", "left": {"ref": "old.score"}, "right": {"const": 1.1}}},
                                    "preconditions": [{"column": "tag", "op": "ne", "value": {"const": "home"}}]}}]}},
        {"name": "edit_note", "description": "d", "input_schema": _obj({"note_id": S, "title": S, "body": S, "tag": S, "author_id": I}, ["note_id"]),
         "operation": {"kind": "update", "table": "notes", "key": {"arg": "note_id"},
                       "set": {"title": {"arg": "title"}, "body": {"arg": "body"}, "tag": {"arg": "tag"},
                               "author_id": {"arg": "author_id"}}}},
        {"name": "delete_note", "description": "d", "input_schema": _obj({"note_id": S}, ["note_id"]),
         "operation": {"kind": "delete", "table": "notes", "key": {"arg": "note_id"},
                       "preconditions": [{"column": "stars", "op": "lt", "value": {"const": 5},
                                          "message": "note {key} has {actual} stars; only notes under {expected} stars can go"}]}},
        {"name": "delete_author", "description": "d", "input_schema": _obj({"author_id": I}, ["author_id"]),
         "operation": {"kind": "delete", "table": "authors", "key": {"arg": "author_id"}}},
        {"name": "move_stars", "description": "d", "input_schema": _obj({"src": S, "dst": S, "n": I}, ["src", "dst", "n"]),
         "operation": {"kind": "sequence", "result": "to", "steps": [
             {"bind": "a", "op": {"kind": "get", "table": "notes", "key": {"arg": "src"}}},
             {"bind": "from_", "op": {"kind": "update", "table": "notes", "key": {"arg": "src"},
                                      "set": {"stars": {"op": "sub", "left": {"ref": "a.stars"}, "right": {"arg": "n"}}},
                                      "preconditions": [{"column": "stars", "op": "ge", "value": {"arg": "n"}}]}},
             {"bind": "b", "op": {"kind": "get", "table": "notes", "key": {"arg": "dst"}}},
             {"bind": "to", "op": {"kind": "update", "table": "notes", "key": {"arg": "dst"},
                                   "set": {"stars": {"op": "add", "left": {"ref": "b.stars"}, "right": {"arg": "n"}}}}}]}},
        {"name": "set_title_number", "description": "writes a number into a string column",
         "input_schema": _obj({"note_id": S}, ["note_id"]),
         "operation": {"kind": "update", "table": "notes", "key": {"arg": "note_id"}, "set": {"title": {"const": 5}}}},
    ],
    "seed": {"rows": {
        "authors": [{"author_id": 1, "name": "Ada", "active": True}, {"author_id": 2, "name": "Bo", "active": False}],
        "notes": [
            {"note_id": "N-1", "author_id": 1, "title": "Groceries list", "stars": 3, "score": 1.5, "tag": "home", "created": "2026-01-01"},
            {"note_id": "N-2", "author_id": 1, "title": "Quarterly report", "stars": 7, "score": 2.0, "tag": "work", "created": "2026-01-01"},
            {"note_id": "N-3", "author_id": 2, "title": "Random thought", "stars": 1, "score": 0.5, "tag": "misc", "created": "2026-01-01"},
        ]}},
}


@pytest.fixture
def lab():
    runtime = EnvRuntime(parse_envspec(LAB, "lab"))
    store = EpisodeStore({"lab": runtime})
    episode = store.create("lab")

    def call(name: str, args: dict | None = None) -> ToolOutcome:
        return execute_tool(runtime, episode.conn, name, args)

    call.episode = episode  # type: ignore[attr-defined]
    return call


def test_get_returns_projected_row(lab):
    out = lab("get_note", {"note_id": "N-2"})
    assert out.ok and out.data == {"note_id": "N-2", "title": "Quarterly report", "stars": 7}
    assert json.loads(out.to_text()) == out.data


def test_get_missing_row_names_table_and_key(lab):
    out = lab("get_note", {"note_id": "N-99"})
    assert not out.ok and out.error == "no notes row with note_id 'N-99'"


def test_get_types_values_back(lab):
    out = lab("get_author", {"author_id": 1})
    assert out.data == {"author_id": 1, "name": "Ada", "active": True}


def test_find_filters_sort_and_optional_filters(lab):
    everything = lab("find_notes", {})
    assert everything.ok and everything.data["count"] == 3
    assert [r["note_id"] for r in everything.data["results"]] == ["N-2", "N-1", "N-3"]  # stars desc
    assert [r["note_id"] for r in lab("find_notes", {"text": "REPORT"}).data["results"]] == ["N-2"]
    assert [r["note_id"] for r in lab("find_notes", {"tags": ["home", "misc"]}).data["results"]] == ["N-1", "N-3"]
    assert lab("find_notes", {"tags": []}).data == {"results": [], "count": 0}
    assert [r["note_id"] for r in lab("find_notes", {"min_stars": 3, "author_id": 1}).data["results"]] == ["N-2", "N-1"]


def test_find_limit_is_capped(lab):
    for i in range(MAX_FIND_LIMIT + 5):
        assert lab("add_note", {"title": f"bulk {i}"}).ok
    assert lab("find_notes", {"limit": 1000}).data["count"] == MAX_FIND_LIMIT
    assert lab("find_notes", {"limit": 2}).data["count"] == 2


def test_insert_generates_prefixed_and_integer_keys(lab):
    note = lab("add_note", {"title": "new", "author_id": 2})
    assert note.ok and note.data["note_id"] == "N-1001" and note.data["tag"] == "misc" and note.data["body"] is None
    assert lab("add_note", {"title": "newer"}).data["note_id"] == "N-1002"
    assert lab("add_author", {"name": "Cy"}).data == {"author_id": 3, "name": "Cy", "active": True}


def test_insert_duplicate_key_and_bad_enum(lab):
    dup = lab("add_note", {"title": "x", "note_id": "N-1"})
    assert not dup.ok and "already exists" in dup.error and "N-1" in dup.error
    bad = lab("add_note", {"title": "x", "tag": "party"})
    assert not bad.ok and "'tag' must be one of ['work', 'home', 'misc']" in bad.error


def test_write_with_missing_parent_is_refused(lab):
    out = lab("add_note", {"title": "orphan", "author_id": 42})
    assert not out.ok and "no authors row with author_id 42" in out.error
    assert lab("find_notes", {"text": "orphan"}).data["count"] == 0
    edit = lab("edit_note", {"note_id": "N-1", "author_id": 42})
    assert not edit.ok and "42" in edit.error


def test_update_skips_omitted_optional_fields(lab):
    out = lab("edit_note", {"note_id": "N-3", "body": "more"})
    assert out.ok and out.data["body"] == "more" and out.data["title"] == "Random thought"
    nothing = lab("edit_note", {"note_id": "N-3"})
    assert not nothing.ok and "nothing to change" in nothing.error


def test_null_for_an_optional_argument_means_left_out(lab):
    assert lab("find_notes", {"text": None, "tags": None, "min_stars": 3}).data["count"] == 2
    assert lab("edit_note", {"note_id": "N-3", "body": None, "title": "T"}).data["body"] is None
    required_null = lab("get_note", {"note_id": None})
    assert not required_null.ok and "None is not of type 'string'" in required_null.error


def test_update_type_check(lab):
    out = lab("set_title_number", {"note_id": "N-1"})
    assert not out.ok and "'title' must be a string, got 5" in out.error


def test_arithmetic_and_precondition_default_message(lab):
    out = lab("rate_note", {"note_id": "N-2", "by": 2})
    assert out.ok and out.data["stars"] == 9 and out.data["score"] == 2.2
    refused = lab("rate_note", {"note_id": "N-1", "by": 1})
    assert not refused.ok
    assert refused.error == "note N-1 has tag 'home'; rate_note needs tag not 'home'"


def test_delete_with_precondition_message_and_children(lab):
    refused = lab("delete_note", {"note_id": "N-2"})
    assert refused.error == "note N-2 has 7 stars; only notes under 5 stars can go"
    assert lab("delete_note", {"note_id": "N-3"}).data["note_id"] == "N-3"
    assert lab("get_note", {"note_id": "N-3"}).error == "no notes row with note_id 'N-3'"
    orphaning = lab("delete_author", {"author_id": 1})
    assert not orphaning.ok and "2 notes row(s) refer to it" in orphaning.error
    assert lab("delete_author", {"author_id": 2}).ok  # its only note is gone


def test_sequence_commits_all_or_nothing(lab):
    ok = lab("move_stars", {"src": "N-2", "dst": "N-3", "n": 4})
    assert ok.ok and ok.data["note_id"] == "N-3" and ok.data["stars"] == 5
    assert lab("get_note", {"note_id": "N-2"}).data["stars"] == 3
    before = lab.episode.state_hash()
    # The first update succeeds, the missing destination fails: the first must be rolled back.
    failed = lab("move_stars", {"src": "N-2", "dst": "N-404", "n": 1})
    assert not failed.ok and "N-404" in failed.error
    assert lab.episode.state_hash() == before
    short = lab("move_stars", {"src": "N-3", "dst": "N-2", "n": 50})
    assert short.error == "note N-3 has stars 5; move_stars needs stars >= 50"


def test_argument_validation_names_the_problem(lab):
    missing = lab("get_note", {})
    assert not missing.ok and "'note_id' is a required property" in missing.error
    wrong_type = lab("get_note", {"note_id": 7})
    assert "argument 'note_id'" in wrong_type.error and "not of type 'string'" in wrong_type.error
    unknown = lab("get_note", {"note_id": "N-1", "noteid": "x"})
    assert "unknown argument(s) 'noteid'" in unknown.error and "it takes: note_id" in unknown.error
    not_object = lab("get_note", ["N-1"])  # type: ignore[arg-type]
    assert "must be a JSON object" in not_object.error


def test_unknown_tool_lists_valid_names(lab):
    out = lab("get_nte", {"note_id": "N-1"})
    assert not out.ok and out.error.startswith("unknown tool 'get_nte'") and "get_note" in out.error


@pytest.mark.parametrize("evil", [
    "x'); DROP TABLE notes; --",
    "\" OR 1=1 --",
    "Robert'); DELETE FROM authors WHERE ('1'='1",
    "%' OR '1'='1",
])
def test_sql_injection_strings_are_data(lab, evil):
    out = lab("add_note", {"title": evil, "body": evil})
    assert out.ok and out.data["title"] == evil
    assert lab("get_note", {"note_id": out.data["note_id"]}).data["title"] == evil
    assert lab("get_note", {"note_id": evil}).error == f"no notes row with note_id {evil!r}"
    assert lab("find_notes", {"text": evil}).data["count"] == 1
    assert lab.episode.row_counts() == {"authors": 2, "notes": 4}


def test_large_find_results_are_cut_to_the_size_limit(lab):
    for i in range(60):
        assert lab("add_note", {"title": f"big {i}", "body": "x" * 3000}).ok
    out = lab("find_notes", {"text": "big", "limit": 100})
    assert out.ok and out.data["count"] < 60 and out.note and "showing" in out.note
    assert len(out.to_text()) < MAX_RESULT_CHARS + 500


def test_one_huge_value_is_truncated_in_the_text(lab):
    note_id = lab("add_note", {"title": "huge", "body": "y" * (MAX_RESULT_CHARS + 10)}).data["note_id"]
    text = execute_tool(lab.episode.runtime, lab.episode.conn, "edit_note", {"note_id": note_id, "tag": "work"}).to_text()
    assert len(text) < MAX_RESULT_CHARS + 200 and text.endswith("ask for fewer rows or fields]")


def test_closed_connection_gives_an_error_outcome(lab):
    lab.episode.conn.close()
    out = lab("get_note", {"note_id": "N-1"})
    assert not out.ok and "not usable" in out.error


def test_example_environment_scenarios():
    from servers.examples import example_spec_paths
    from servers.spec import load_envspec

    runtimes = {s.name: EnvRuntime(s) for s in map(load_envspec, example_spec_paths())}
    store = EpisodeStore(runtimes)
    orders = store.create("order-desk")
    r = runtimes["order-desk"]
    assert execute_tool(r, orders.conn, "cancel_order", {"order_id": "O-1001", "reason": "late"}).error == (
        "order O-1001 has status 'delivered'; cancel_order needs status 'pending'")
    placed = execute_tool(r, orders.conn, "place_order", {"customer_id": "C-1002", "product_id": "P-1002",
                                                          "quantity": 2, "shipping_address": "4 King's Way"})
    assert placed.ok and placed.data["total"] == 498 and placed.data["status"] == "pending"
    assert execute_tool(r, orders.conn, "get_product", {"product_id": "P-1002"}).data["stock"] == 2
    sold_out = execute_tool(r, orders.conn, "place_order", {"customer_id": "C-1002", "product_id": "P-1002",
                                                            "quantity": 3, "shipping_address": "x"})
    assert sold_out.error == "product P-1002 has only 2 in stock; the order needs 3"

    bank = store.create("bank-desk")
    b = runtimes["bank-desk"]
    moved = execute_tool(b, bank.conn, "transfer_funds", {"from_account_id": "AC-1001", "to_account_id": "AC-1002", "amount": 100.1})
    assert moved.ok and moved.data["transfer_id"] == "TR-1004"
    assert execute_tool(b, bank.conn, "get_balance", {"account_id": "AC-1001"}).data["balance"] == 2350.65
    assert execute_tool(b, bank.conn, "get_balance", {"account_id": "AC-1002"}).data["balance"] == 12100.1
    too_much = execute_tool(b, bank.conn, "transfer_funds", {"from_account_id": "AC-1005", "to_account_id": "AC-1001", "amount": 100})
    assert too_much.error == "account AC-1005 has balance 88.4; the transfer needs 100"

    flights = store.create("flight-desk")
    f = runtimes["flight-desk"]
    assert execute_tool(f, flights.conn, "book_fare", {"passenger_id": "PA-1002", "fare_id": "FA-1006"}).error == (
        "fare FA-1006 is sold out")
    booked = execute_tool(f, flights.conn, "book_fare", {"passenger_id": "PA-1002", "fare_id": "FA-1004", "seat": "3A"})
    assert booked.ok and booked.data["price"] == 129.0
    changes = flights.diff()
    assert changes["fares"]["updated"][0]["after"]["seats_left"] == 39
    assert changes["bookings"]["inserted"][0]["booking_id"] == booked.data["booking_id"]


# -- bulk deletes -----------------------------------------------------------------------------

BULK = {
    "name": "bulk",
    "tables": [
        {"name": "tags", "primary_key": "tag_id", "id_prefix": "T-", "columns": [{"name": "tag_id"}, {"name": "name"}]},
        {"name": "notes", "primary_key": "note_id", "id_prefix": "N-",
         "columns": [{"name": "note_id"}, {"name": "tag_id"}],
         "foreign_keys": [{"column": "tag_id", "ref_table": "tags", "ref_column": "tag_id"}]},
    ],
    "tools": [
        {"name": "delete_tags", "description": "Delete tags by their ids.",
         "input_schema": _obj({"Tag IDs": {"type": "array", "items": S, "minItems": 1}}, ["Tag IDs"]),
         "operation": {"kind": "delete", "table": "tags", "key": {"arg": "Tag IDs"}, "many": True}},
        {"name": "delete_tag", "description": "Delete one tag.", "input_schema": _obj({"tag_id": S}, ["tag_id"]),
         "operation": {"kind": "delete", "table": "tags", "key": {"arg": "tag_id"}}},
    ],
    "seed": {"rows": {"tags": [{"tag_id": f"T-{n}", "name": f"tag {n}"} for n in range(1, 5)],
                      "notes": [{"note_id": "N-1", "tag_id": "T-4"}]}},
}


def test_bulk_delete_deletes_exactly_the_rows_it_names_or_none():
    spec = parse_envspec(BULK)
    # A delete of one row serializes as before; a bulk delete says so.
    assert "many" not in spec.tool("delete_tag").operation.model_dump()
    assert spec.tool("delete_tags").operation.model_dump()["many"] is True
    runtime = EnvRuntime(spec)
    ep = EpisodeStore({"bulk": runtime}).create("bulk")
    run = lambda args: execute_tool(runtime, ep.conn, "delete_tags", args)  # noqa: E731
    tags = lambda: sorted(r["tag_id"] for r in ep.rows()["tags"])  # noqa: E731
    out = run({"Tag IDs": ["T-1", "T-3", "T-1"]})
    assert out.ok, out.error
    assert out.data["count"] == 2 and [r["tag_id"] for r in out.data["results"]] == ["T-1", "T-3"]
    assert tags() == ["T-2", "T-4"]
    # One missing id: the call fails naming it, as a single delete does, and deletes nothing.
    out = run({"Tag IDs": ["T-2", "T-9"]})
    assert not out.ok and "T-9" in out.error and out.error == execute_tool(
        runtime, ep.conn, "delete_tag", {"tag_id": "T-9"}).error
    assert tags() == ["T-2", "T-4"]
    # A row other rows refer to is refused as in a single delete; nothing else goes either.
    out = run({"Tag IDs": ["T-2", "T-4"]})
    assert not out.ok and "T-4" in out.error and tags() == ["T-2", "T-4"]
    assert not run({"Tag IDs": []}).ok and not run({"Tag IDs": "T-2"}).ok
    assert tags() == ["T-2", "T-4"]
