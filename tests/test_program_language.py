"""The `program` operation: rules, transactions, defaults, generated ids, lists, nested results."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from servers.executor import execute_tool
from servers.mcp_server import _annotations
from servers.program import program_reads, program_writes
from servers.spec import parse_envspec
from servers.state import EnvRuntime, EpisodeStore


def _obj(props: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": props, "required": required or []}


S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741
LIST = {"type": "array", "items": S}

SHOP: dict[str, Any] = {
    "name": "shop",
    "clock": "2025-03-04T10:00:00",
    "tables": [
        {"name": "products", "primary_key": "product_id",
         "columns": [{"name": "product_id"}, {"name": "name"}, {"name": "price", "type": "number"},
                     {"name": "stock", "type": "integer"}, {"name": "active", "type": "boolean", "default": True}]},
        {"name": "orders", "primary_key": "order_id", "id_prefix": "O-",
         "columns": [{"name": "order_id"}, {"name": "status", "type": "enum",
                                            "enum": ["pending", "shipped", "cancelled"], "default": "pending"},
                     {"name": "address", "type": "json"}, {"name": "total", "type": "number"},
                     {"name": "cancel_reason"}, {"name": "updated_at", "type": "date"}]},
        {"name": "order_items", "primary_key": "order_item_id",
         "columns": [{"name": "order_item_id"}, {"name": "order_id"}, {"name": "product_id"},
                     {"name": "quantity", "type": "integer"}, {"name": "unit_price", "type": "number"}],
         "foreign_keys": [{"column": "order_id", "ref_table": "orders", "ref_column": "order_id"}]},
    ],
    "tools": [
        {"name": "create_order", "description": "Create a pending order for a list of active products.",
         "input_schema": _obj({"product_ids": {"type": "array", "items": S, "minItems": 1},
                               "address": {"type": "object"}}, ["product_ids"]),
         "operation": {"kind": "program", "steps": [
             {"require": "SELECT COUNT(*) = (SELECT COUNT(DISTINCT value) FROM json_each(:product_ids)) "
                         "FROM products WHERE active AND product_id IN (SELECT value FROM json_each(:product_ids))",
              "message": "every product must exist and be active: {product_ids}"},
             {"require": "SELECT NOT EXISTS (SELECT 1 FROM products WHERE stock < 1 AND product_id IN "
                         "(SELECT value FROM json_each(:product_ids)))",
              "message": "a product of {product_ids} is out of stock"},
             {"let": "order_id", "query": "SELECT envhub_next_id('O-', (SELECT json_group_array(order_id) FROM orders))"},
             {"exec": "INSERT INTO orders (order_id, address, total, updated_at) VALUES (:order_id, json(:address), "
                      "(SELECT round(SUM(price), 2) FROM products WHERE product_id IN "
                      "(SELECT value FROM json_each(:product_ids))), :now)"},
             {"for_each": "SELECT value AS product_id, key AS n FROM json_each(:product_ids)", "as": "p", "steps": [
                 {"exec": "INSERT INTO order_items VALUES (:order_id || '-' || (:p_n + 1), :order_id, :p_product_id, 1, "
                          "(SELECT price FROM products WHERE product_id = :p_product_id))"},
                 {"exec": "UPDATE products SET stock = stock - 1 WHERE product_id = :p_product_id",
                  "expect_changes": 1}]}],
             "result": {"query": "SELECT json_object('order_id', o.order_id, 'status', o.status, 'total', o.total, "
                                 "'address', json(o.address), 'items', (SELECT json_group_array(json_object("
                                 "'product_id', i.product_id, 'unit_price', i.unit_price)) FROM order_items i "
                                 "WHERE i.order_id = o.order_id ORDER BY i.order_item_id)) "
                                 "FROM orders o WHERE o.order_id = :order_id"}}},
        {"name": "cancel_order", "description": "Cancel a pending order; its stock goes back.",
         "input_schema": _obj({"order_id": S, "reason": {"type": "string", "enum": ["no longer needed", "mistake"]}},
                              ["order_id", "reason"]),
         "operation": {"kind": "program", "steps": [
             {"let": "status", "query": "SELECT status FROM orders WHERE order_id = :order_id"},
             {"require": "SELECT :status IS NOT NULL", "message": "order {order_id} not found"},
             {"require": "SELECT :status = 'pending'",
              "message": "order {order_id} is {status}; only pending orders can be cancelled"},
             {"exec": "UPDATE products SET stock = stock + (SELECT SUM(quantity) FROM order_items i "
                      "WHERE i.order_id = :order_id AND i.product_id = products.product_id) "
                      "WHERE product_id IN (SELECT product_id FROM order_items WHERE order_id = :order_id)"},
             {"exec": "UPDATE orders SET status = 'cancelled', cancel_reason = :reason, updated_at = :today "
                      "WHERE order_id = :order_id", "expect_changes": 1}],
             "result": {"query": "SELECT order_id, status, cancel_reason FROM orders WHERE order_id = :order_id",
                        "shape": "row"}}},
        {"name": "remove_order_item", "description": "Remove an item of a pending order.",
         "input_schema": _obj({"order_id": S, "order_item_id": S}, ["order_id", "order_item_id"]),
         "operation": {"kind": "program", "steps": [
             {"require": "SELECT EXISTS (SELECT 1 FROM order_items WHERE order_item_id = :order_item_id "
                         "AND order_id = :order_id)",
              "message": "order {order_id} has no item {order_item_id}"},
             {"if": "SELECT status != 'pending' FROM orders WHERE order_id = :order_id",
              "then": [{"fail": "order {order_id} is not pending"}],
              "else": [{"exec": "DELETE FROM order_items WHERE order_item_id = :order_item_id"}]}]}},
        {"name": "order_lines", "description": "The items of an order.",
         "input_schema": _obj({"order_id": S}, ["order_id"]),
         "operation": {"kind": "program", "result": {
             "query": "SELECT order_item_id, product_id, unit_price FROM order_items WHERE order_id = :order_id "
                      "ORDER BY order_item_id", "shape": "rows"}}},
    ],
    "seed": {"rows": {
        "products": [
            {"product_id": "P1", "name": "Lamp", "price": 19.99, "stock": 3},
            {"product_id": "P2", "name": "Desk", "price": 120.5, "stock": 1},
            {"product_id": "P3", "name": "Old chair", "price": 10.0, "stock": 9, "active": False},
        ],
        "orders": [{"order_id": "O-1001", "status": "shipped", "total": 19.99}],
        "order_items": [{"order_item_id": "O-1001-1", "order_id": "O-1001", "product_id": "P1", "quantity": 1,
                         "unit_price": 19.99}],
    }},
}


@pytest.fixture()
def shop():
    runtime = EnvRuntime(parse_envspec(copy.deepcopy(SHOP), origin="shop.json"))
    store = EpisodeStore({"shop": runtime})
    episode = store.create("shop")
    yield runtime, episode
    store.close_all()


def _call(runtime, episode, name, **arguments):
    return execute_tool(runtime, episode.conn, name, arguments)


def test_insert_with_defaults_generated_id_list_argument_and_nested_result(shop):
    runtime, episode = shop
    out = _call(runtime, episode, "create_order", product_ids=["P1", "P2"], address={"city": "Lyon", "zip": "69001"})
    assert out.ok, out.error
    assert out.data == {
        "order_id": "O-1002", "status": "pending", "total": 140.49, "address": {"city": "Lyon", "zip": "69001"},
        "items": [{"product_id": "P1", "unit_price": 19.99}, {"product_id": "P2", "unit_price": 120.5}],
    }
    rows = episode.rows()
    order = next(r for r in rows["orders"] if r["order_id"] == "O-1002")
    assert order["status"] == "pending"  # the declared default, not NULL
    assert order["address"] == {"city": "Lyon", "zip": "69001"}  # a json column reads back as JSON
    assert order["updated_at"] == "2025-03-04T10:00:00"  # :now is the spec's episode clock
    stock = {r["product_id"]: r["stock"] for r in rows["products"]}
    assert stock == {"P1": 2, "P2": 0, "P3": 9}
    lines = _call(runtime, episode, "order_lines", order_id="O-1002")
    assert [line["order_item_id"] for line in lines.data] == ["O-1002-1", "O-1002-2"]


def test_failed_require_changes_nothing(shop):
    runtime, episode = shop
    before = episode.state_hash()
    out = _call(runtime, episode, "create_order", product_ids=["P1", "P3"])
    assert not out.ok and out.error == 'every product must exist and be active: ["P1", "P3"]'
    assert episode.state_hash() == before
    assert _call(runtime, episode, "create_order", product_ids=["P2"]).ok
    middle = episode.state_hash()
    out = _call(runtime, episode, "create_order", product_ids=["P1", "P2"])
    assert not out.ok and out.error == 'a product of ["P1", "P2"] is out of stock'
    assert episode.state_hash() == middle
    assert len(episode.rows()["orders"]) == 2


RESTOCK = {
    "name": "restock", "description": "Add one to every product's stock, then set one product's price.",
    "input_schema": _obj({"product_id": S, "price": {"type": "number"}}, ["product_id", "price"]),
    "operation": {"kind": "program", "steps": [
        {"exec": "UPDATE products SET stock = stock + 1"},
        {"exec": "UPDATE products SET price = :price WHERE product_id = :product_id", "expect_changes": 1,
         "message": "no product {product_id}"},
        {"require": "SELECT price > 0 FROM products WHERE product_id = :product_id",
         "message": "price must be positive, got {price}"}]},
}


def _restock_shop():
    spec = copy.deepcopy(SHOP)
    spec["tools"].append(copy.deepcopy(RESTOCK))
    runtime = EnvRuntime(parse_envspec(spec))
    return runtime, EpisodeStore({"shop": runtime}).create("shop")


def test_failure_after_writes_rolls_back_every_earlier_write():
    runtime, episode = _restock_shop()
    before = episode.state_hash()
    missing = _call(runtime, episode, "restock", product_id="P9", price=5)
    assert missing.error == "no product P9"  # the first UPDATE already changed 3 rows
    assert episode.state_hash() == before
    negative = _call(runtime, episode, "restock", product_id="P1", price=-1)
    assert negative.error == "price must be positive, got -1"  # after both UPDATEs ran
    assert episode.state_hash() == before
    ok = _call(runtime, episode, "restock", product_id="P1", price=25)
    assert ok.ok and episode.state_hash() != before
    assert {r["product_id"]: r["stock"] for r in episode.rows()["products"]} == {"P1": 4, "P2": 2, "P3": 10}


def test_list_argument_with_repeated_items(shop):
    runtime, episode = shop
    out = _call(runtime, episode, "create_order", product_ids=["P1", "P1"])
    assert out.ok, out.error
    assert [i["product_id"] for i in out.data["items"]] == ["P1", "P1"]
    assert {r["product_id"]: r["stock"] for r in episode.rows()["products"]}["P1"] == 1


def test_state_transition_rule_both_ways(shop):
    runtime, episode = shop
    before = episode.state_hash()
    refused = _call(runtime, episode, "cancel_order", order_id="O-1001", reason="mistake")
    assert not refused.ok
    assert refused.error == "order O-1001 is shipped; only pending orders can be cancelled"
    assert episode.state_hash() == before
    missing = _call(runtime, episode, "cancel_order", order_id="O-9", reason="mistake")
    assert missing.error == "order O-9 not found"
    created = _call(runtime, episode, "create_order", product_ids=["P1", "P2"]).data["order_id"]
    done = _call(runtime, episode, "cancel_order", order_id=created, reason="mistake")
    assert done.ok and done.data == {"order_id": created, "status": "cancelled", "cancel_reason": "mistake"}
    stock = {r["product_id"]: r["stock"] for r in episode.rows()["products"]}
    assert stock == {"P1": 3, "P2": 1, "P3": 9}  # side effect on another table: stock restored
    again = _call(runtime, episode, "cancel_order", order_id=created, reason="mistake")
    assert again.error == f"order {created} is cancelled; only pending orders can be cancelled"


def test_child_must_belong_to_parent_in_path(shop):
    runtime, episode = shop
    created = _call(runtime, episode, "create_order", product_ids=["P1"]).data["order_id"]
    before = episode.state_hash()
    wrong = _call(runtime, episode, "remove_order_item", order_id=created, order_item_id="O-1001-1")
    assert wrong.error == f"order {created} has no item O-1001-1"
    assert episode.state_hash() == before
    shipped = _call(runtime, episode, "remove_order_item", order_id="O-1001", order_item_id="O-1001-1")
    assert shipped.error == "order O-1001 is not pending"
    ok = _call(runtime, episode, "remove_order_item", order_id=created, order_item_id=f"{created}-1")
    assert ok.ok and ok.data == {"ok": True}
    assert _call(runtime, episode, "order_lines", order_id=created).data == []


def test_reads_writes_and_read_only_flag_are_derived_at_load():
    spec = parse_envspec(copy.deepcopy(SHOP))
    create = spec.tool("create_order").operation
    assert program_reads(create) == {"products", "orders", "order_items"}
    assert program_writes(create) == {"orders", "order_items", "products"}
    assert program_writes(spec.tool("order_lines").operation) == set()
    assert spec.tool("order_lines").read_only and not spec.tool("cancel_order").read_only
    hints = {t.name: _annotations(t) for t in spec.tools}
    assert hints["remove_order_item"].destructive_hint is True  # its program DELETEs
    assert hints["cancel_order"].destructive_hint is False and hints["order_lines"].read_only_hint is True


def test_column_default_applies_to_simple_inserts_and_seed_rows():
    spec = copy.deepcopy(SHOP)
    spec["tools"].append({"name": "add_product", "description": "d", "input_schema": _obj({"name": S}, ["name"]),
                          "operation": {"kind": "insert", "table": "products", "values": {"name": {"arg": "name"}}}})
    runtime = EnvRuntime(parse_envspec(spec))
    store = EpisodeStore({"shop": runtime})
    episode = store.create("shop")
    out = execute_tool(runtime, episode.conn, "add_product", {"name": "Mug"})
    assert out.ok and out.data["active"] is True
    seeded = {r["product_id"]: r["active"] for r in episode.rows()["products"]}
    assert seeded["P1"] is True and seeded["P3"] is False


def test_bad_column_default_fails_to_load():
    spec = copy.deepcopy(SHOP)
    spec["tables"][1]["columns"][1]["default"] = "lost"
    with pytest.raises(ValueError, match="default 'lost' does not fit"):
        parse_envspec(spec, origin="shop.json")
