"""Program operations vs the simple shorthand ops, and the τ² retail port vs τ²'s own database load.

    .venv/bin/python bench/bench_program.py [--calls 3000] [--out out/bench/program.md]

In one run, on one ~800-order synthetic database: tool-call p50/p99 of today's simple ops (`get`,
an `update` with a precondition) next to programs (the same `get` written as a program, and a
rule-heavy `place_order`: list argument, 4 checks, an insert, a loop of 2 writes per item, a
nested JSON result). Then, if τ²-bench is installed, episode creation for the ported τ² retail
database next to τ²'s own `RetailDB.model_validate` of its db.json (the JSON already parsed), and
one rule-heavy τ² tool (`modify_pending_order_address`) and read (`get_order_details`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from servers.executor import execute_tool
from servers.spec import parse_envspec
from servers.state import EnvRuntime, EpisodeStore


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def time_each(fn, iterations: int) -> list[float]:
    samples = []
    for i in range(iterations):
        start = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - start)
    return samples


def _obj(props: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": props, "required": required}


S = {"type": "string"}
ORDER_JSON = ("json_object('order_id', o.order_id, 'customer_id', o.customer_id, 'status', o.status, 'total', o.total, "
              "'quantity', o.quantity, 'placed_at', o.placed_at, 'shipping_address', o.shipping_address)")


def bench_spec() -> Any:
    return parse_envspec({
        "name": "bench-program",
        "clock": "2025-01-01T12:00:00",
        "tables": [
            {"name": "customers", "primary_key": "customer_id", "id_prefix": "C-", "columns": [
                {"name": "customer_id"}, {"name": "name"}, {"name": "email"}, {"name": "city"},
                {"name": "vip", "type": "boolean"}]},
            {"name": "products", "primary_key": "product_id", "id_prefix": "P-", "columns": [
                {"name": "product_id"}, {"name": "name"}, {"name": "price", "type": "number"},
                {"name": "stock", "type": "integer"}, {"name": "active", "type": "boolean", "default": True}]},
            {"name": "orders", "primary_key": "order_id", "id_prefix": "O-", "columns": [
                {"name": "order_id"}, {"name": "customer_id"},
                {"name": "status", "type": "enum", "enum": ["pending", "paid", "shipped", "delivered"],
                 "default": "pending"},
                {"name": "total", "type": "number"}, {"name": "quantity", "type": "integer"},
                {"name": "placed_at", "type": "date"}, {"name": "shipping_address"}],
             "foreign_keys": [{"column": "customer_id", "ref_table": "customers", "ref_column": "customer_id"}]},
            {"name": "order_items", "primary_key": "order_item_id", "columns": [
                {"name": "order_item_id"}, {"name": "order_id"}, {"name": "product_id"},
                {"name": "unit_price", "type": "number"}],
             "foreign_keys": [{"column": "order_id", "ref_table": "orders", "ref_column": "order_id"}]},
        ],
        "tools": [
            {"name": "get_order", "description": "Get an order (simple op).", "input_schema": _obj({"order_id": S}, ["order_id"]),
             "operation": {"kind": "get", "table": "orders", "key": {"arg": "order_id"}}},
            {"name": "set_address", "description": "Change a pending order's address (simple op with a precondition).",
             "input_schema": _obj({"order_id": S, "address": S}, ["order_id", "address"]),
             "operation": {"kind": "update", "table": "orders", "key": {"arg": "order_id"},
                           "set": {"shipping_address": {"arg": "address"}},
                           "preconditions": [{"column": "status", "op": "in", "value": {"const": ["pending", "paid"]}}]}},
            {"name": "get_order_program", "description": "Get an order (program).",
             "input_schema": _obj({"order_id": S}, ["order_id"]),
             "operation": {"kind": "program", "result": {
                 "query": f"SELECT {ORDER_JSON} FROM orders o WHERE o.order_id = :order_id",
                 "message": "order {order_id} not found"}}},
            {"name": "place_order", "description": "Place an order for a list of active, in-stock products.",
             "input_schema": _obj({"customer_id": S, "product_ids": {"type": "array", "items": S, "minItems": 1}},
                                  ["customer_id", "product_ids"]),
             "operation": {"kind": "program", "steps": [
                 {"require": "SELECT EXISTS (SELECT 1 FROM customers WHERE customer_id = :customer_id)",
                  "message": "customer {customer_id} not found"},
                 {"require": "SELECT COUNT(*) = (SELECT COUNT(DISTINCT value) FROM json_each(:product_ids)) FROM products "
                             "WHERE active AND product_id IN (SELECT value FROM json_each(:product_ids))",
                  "message": "every product must exist and be active"},
                 {"require": "SELECT NOT EXISTS (SELECT 1 FROM products WHERE stock < 1 AND product_id IN "
                             "(SELECT value FROM json_each(:product_ids)))", "message": "out of stock"},
                 {"let": "order_id", "query": "SELECT envhub_next_id('O-', (SELECT json_group_array(order_id) FROM orders))"},
                 {"require": "SELECT :order_id IS NOT NULL", "message": "no id"},
                 {"exec": "INSERT INTO orders (order_id, customer_id, total, quantity, placed_at) VALUES (:order_id, "
                          ":customer_id, (SELECT round(SUM(price), 2) FROM products WHERE product_id IN "
                          "(SELECT value FROM json_each(:product_ids))), json_array_length(:product_ids), :today)"},
                 {"for_each": "SELECT value AS product_id, key AS n FROM json_each(:product_ids)", "as": "p", "steps": [
                     {"exec": "INSERT INTO order_items VALUES (:order_id || '-' || :p_n, :order_id, :p_product_id, "
                              "(SELECT price FROM products WHERE product_id = :p_product_id))"},
                     {"exec": "UPDATE products SET stock = stock - 1 WHERE product_id = :p_product_id",
                      "expect_changes": 1}]}],
                 "result": {"query": "SELECT json_object('order_id', o.order_id, 'status', o.status, 'total', o.total, "
                                     "'items', (SELECT json_group_array(json_object('product_id', i.product_id, "
                                     "'unit_price', i.unit_price)) FROM order_items i WHERE i.order_id = o.order_id)) "
                                     "FROM orders o WHERE o.order_id = :order_id"}}},
        ],
        "seed": {"generate": {"seed": 1, "rows": {"customers": 200, "orders": 800}},
                 "rows": {"products": [{"product_id": f"P-{1001 + i}", "name": f"Product {i}", "price": 5.5 + i,
                                        "stock": 10**7, "active": True} for i in range(20)]}},
    }, origin="bench")


def bench_calls(calls: int) -> list[tuple[str, str, tuple[float, float]]]:
    spec = bench_spec()
    runtime = EnvRuntime(spec)
    store = EpisodeStore({spec.name: runtime})
    episode = store.create(spec.name)
    orders = [r["order_id"] for r in episode.rows("orders")["orders"]]
    customers = [r["customer_id"] for r in episode.rows("customers")["customers"]]
    pending = [r["order_id"] for r in episode.rows("orders")["orders"] if r["status"] in ("pending", "paid")]

    def call(name: str, arguments: dict) -> None:
        outcome = execute_tool(runtime, episode.conn, name, arguments)
        if not outcome.ok:
            raise RuntimeError(f"{name}: {outcome.error}")

    cases = [
        ("simple op (today)", "get_order", lambda i: call("get_order", {"order_id": orders[i % len(orders)]})),
        ("simple op (today)", "set_address (update + precondition)",
         lambda i: call("set_address", {"order_id": pending[i % len(pending)], "address": f"{i} Main St"})),
        ("program", "get_order_program (same read)",
         lambda i: call("get_order_program", {"order_id": orders[i % len(orders)]})),
        ("program, rule-heavy", "place_order (3 items: 4 checks, 7 writes, nested result)",
         lambda i: call("place_order", {"customer_id": customers[i % len(customers)],
                                        "product_ids": [f"P-{1001 + (i + k) % 20}" for k in range(3)]})),
    ]
    out = []
    for kind, label, fn in cases:
        fn(0)  # warm: validators compiled, statements prepared
        out.append((kind, label, percentiles(time_each(fn, calls))))
    store.close_all()
    return out


def bench_tau2(iterations: int) -> list[str] | None:
    try:
        from synth.importers.tau2.build import build_envspec
        from synth.importers.tau2.source import load_domain
    except ImportError:
        return None
    try:
        domain = load_domain("retail")
    except Exception as err:  # τ² not installed
        print(f"(skipping τ² figures: {err})", file=sys.stderr)
        return None
    raw = json.loads(domain.db_path.read_text(encoding="utf-8"))
    validate = percentiles(time_each(lambda i: domain.db_class.model_validate(raw), max(5, iterations // 10)))
    spec = build_envspec(domain)
    runtime = EnvRuntime(spec)
    store = EpisodeStore({spec.name: runtime}, max_live=10**6)
    started = time.perf_counter()
    template = runtime.template()
    template_s = time.perf_counter() - started
    create = percentiles(time_each(lambda i: store.close(store.create(spec.name).id), iterations))
    episode = store.create(spec.name)
    db = domain.load_db()
    pending = [o.order_id for o in db.orders.values() if "pending" in o.status]
    address = {"address1": "1 Main St", "address2": "", "city": "Austin", "state": "TX", "country": "USA", "zip": "78701"}

    def tool(name: str, arguments: dict) -> None:
        outcome = execute_tool(runtime, episode.conn, name, arguments)
        if not outcome.ok:
            raise RuntimeError(f"{name}: {outcome.error}")

    read = percentiles(time_each(lambda i: tool("get_order_details", {"order_id": pending[i % len(pending)]}),
                                 iterations))
    write = percentiles(time_each(lambda i: tool("modify_pending_order_address",
                                                 {"order_id": pending[i % len(pending)], **address}), iterations))
    store.close_all()
    return [
        "| τ² retail (500 users, 1,000 orders, 50 products) | p50 / p99 |",
        "|---|---|",
        f"| envhub: create an episode of the port ({len(template.data) / 1024:,.0f} KiB DB; template built once "
        f"in {template_s:.2f} s) | {create[0] * 1e3:.2f} / {create[1] * 1e3:.2f} ms |",
        f"| τ²: `RetailDB.model_validate` of its db.json (already parsed) | "
        f"{validate[0] * 1e3:.1f} / {validate[1] * 1e3:.1f} ms |",
        f"| envhub: `get_order_details` on the port (program, nested JSON) | "
        f"{read[0] * 1e6:.0f} / {read[1] * 1e6:.0f} µs |",
        f"| envhub: `modify_pending_order_address` on the port (program: checks + write + result) | "
        f"{write[0] * 1e6:.0f} / {write[1] * 1e6:.0f} µs |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per measured tool")
    parser.add_argument("--out", type=Path, default=Path("out/bench/program.md"))
    args = parser.parse_args(argv)
    command = "python bench/bench_program.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = ["| kind | tool | p50 | p99 |", "|---|---|---|---|"]
    for kind, label, (p50, p99) in bench_calls(args.calls):
        lines.append(f"| {kind} | {label} | {p50 * 1e6:.0f} µs | {p99 * 1e6:.0f} µs |")
    tau2 = bench_tau2(max(50, args.calls // 10))
    table = "\n".join(lines + ([""] + tau2 if tau2 else []))
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# servers: program operations and the τ² port\n\n"
        f"Command: `{command.strip()}` (from the repository root, with `.venv/bin/python`).\n\n"
        "All rows come from one run on the same (shared, noisy, 2-core) machine; compare within the run.\n"
        "A call is `servers.executor.execute_tool`: argument validation, one transaction, the result.\n\n"
        f"{table}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
