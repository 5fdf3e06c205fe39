"""Episodes: templates, the canonical hash, diff, fork, snapshot/restore, expiry, the cap; seed rows."""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from servers.examples import example_spec_paths
from servers.executor import execute_tool
from servers.seedgen import generate_rows, initial_rows, table_order
from servers.spec import check_value, load_envspec
from servers.state import (
    EnvRuntime,
    EpisodeError,
    EpisodeLimitReached,
    EpisodeNotFound,
    EpisodeStore,
    UnknownEnvironment,
    canonical_state_hash,
)


@pytest.fixture(scope="module")
def specs():
    return {s.name: s for s in map(load_envspec, example_spec_paths())}


@pytest.fixture
def store(specs):
    return EpisodeStore({name: EnvRuntime(spec) for name, spec in specs.items()})


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def call(episode, name, args):
    out = execute_tool(episode.runtime, episode.conn, name, args)
    assert out.ok, out.error
    return out.data


# -- hash ----------------------------------------------------------------------------------------


def test_hash_follows_the_contract_exactly(specs):
    spec = specs["bank-desk"]
    rows = {"cards": [{"card_id": "CD-9", "account_id": "AC-1", "last4": "0001", "status": "active", "expires": "2030-01-01"}],
            "customers": [{"customer_id": "CU-2", "name": "Zé", "email": "z@x", "phone": None, "kyc_verified": 1},
                          {"customer_id": "CU-10", "name": "A", "email": "a@x", "phone": None, "kyc_verified": 0}],
            "accounts": [{"account_id": "AC-1", "customer_id": "CU-2", "type": "checking", "currency": "EUR",
                          "balance": 10.0, "status": "active", "freeze_reason": None, "opened_at": "2020-01-01"}]}
    expected = {
        "accounts": [{"account_id": "AC-1", "balance": 10, "currency": "EUR", "customer_id": "CU-2", "freeze_reason": None,
                      "opened_at": "2020-01-01", "status": "active", "type": "checking"}],
        "cards": rows["cards"],
        # strings sort lexically: "CU-10" before "CU-2"; booleans come back from 0/1
        "customers": [{"customer_id": "CU-10", "email": "a@x", "kyc_verified": False, "name": "A", "phone": None},
                      {"customer_id": "CU-2", "email": "z@x", "kyc_verified": True, "name": "Zé", "phone": None}],
        "transfers": [],
    }
    text = json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_state_hash(rows, spec) == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_hash_ignores_row_and_table_order(specs):
    spec = specs["order-desk"]
    rows = initial_rows(spec, seed=3)
    shuffled = {}
    rng = random.Random(1)
    for name in reversed(list(rows)):
        table_rows = [dict(reversed(list(r.items()))) for r in rows[name]]
        rng.shuffle(table_rows)
        shuffled[name] = table_rows
    assert canonical_state_hash(rows, spec) == canonical_state_hash(shuffled, spec)
    rows["products"][0]["stock"] += 1
    assert canonical_state_hash(rows, spec) != canonical_state_hash(shuffled, spec)


def test_integer_keys_sort_numerically():
    from servers.spec import parse_envspec

    spec = parse_envspec({"name": "n", "tables": [{"name": "t", "primary_key": "id", "columns": [
        {"name": "id", "type": "integer"}]}], "tools": []})
    a = canonical_state_hash({"t": [{"id": 10}, {"id": 9}]}, spec)
    b = canonical_state_hash({"t": [{"id": 9}, {"id": 10}]}, spec)
    assert a == b


def test_same_state_by_different_operation_orders_hashes_the_same(store):
    one, two = store.create("order-desk"), store.create("order-desk")
    call(one, "update_customer_contact", {"customer_id": "C-1002", "city": "Cork"})
    call(one, "cancel_order", {"order_id": "O-1002", "reason": "late"})
    call(two, "cancel_order", {"order_id": "O-1002", "reason": "late"})
    call(two, "update_customer_contact", {"customer_id": "C-1002", "city": "Galway"})
    assert one.state_hash() != two.state_hash()
    call(two, "update_customer_contact", {"customer_id": "C-1002", "city": "Cork"})
    assert one.state_hash() == two.state_hash()


def test_fresh_episode_hash_matches_the_rows_it_was_built_from(store, specs):
    episode = store.create("flight-desk")
    assert episode.state_hash() == canonical_state_hash(specs["flight-desk"].seed.rows, specs["flight-desk"])



def test_memoized_hash_always_equals_a_fresh_computation(specs):
    """The hash is reused while SQLite's change counter stands still; every change must invalidate it."""
    runtime = EnvRuntime(specs["order-desk"], template_cache_size=1)  # size 1: templates get evicted
    store = EpisodeStore({"order-desk": runtime})

    def fresh(episode):
        return canonical_state_hash(episode.rows(), runtime.spec)

    for seed in (None, 7, None, 7):  # alternating seeds rebuild evicted templates
        episode = store.create("order-desk", seed=seed)
        assert episode.state_hash() == fresh(episode)
    episode = store.create("order-desk")
    before = episode.state_hash()
    failed = execute_tool(runtime, episode.conn, "cancel_order", {"order_id": "O-1001", "reason": "x"})
    assert not failed.ok  # delivered orders cannot be cancelled: nothing changed
    assert episode.state_hash() == before == fresh(episode)
    call(episode, "cancel_order", {"order_id": "O-1002", "reason": "late"})
    changed = episode.state_hash()
    assert changed != before and changed == fresh(episode)
    fork = store.fork(episode.id)
    call(fork, "update_customer_contact", {"customer_id": "C-1002", "city": "Cork"})
    assert fork.state_hash() == fresh(fork) != changed
    assert episode.state_hash() == changed

# -- episodes ------------------------------------------------------------------------------------


def test_diff_lists_inserted_deleted_updated(store):
    episode = store.create("bank-desk")
    assert episode.diff() == {}
    call(episode, "transfer_funds", {"from_account_id": "AC-1001", "to_account_id": "AC-1002", "amount": 50})
    changes = episode.diff()
    assert set(changes) == {"accounts", "transfers"}
    assert [u["key"] for u in changes["accounts"]["updated"]] == ["AC-1001", "AC-1002"]
    first = changes["accounts"]["updated"][0]
    assert first["before"]["balance"] == 2450.75 and first["after"]["balance"] == 2400.75
    assert changes["transfers"]["inserted"][0]["amount"] == 50
    assert changes["transfers"]["deleted"] == []


def test_rows_and_counts(store):
    episode = store.create("order-desk")
    assert episode.row_counts() == {"customers": 5, "products": 7, "orders": 6, "order_items": 6, "returns": 1}
    products = episode.rows("products")["products"]
    assert [p["product_id"] for p in products] == sorted(p["product_id"] for p in products)
    assert products[5]["active"] is False
    with pytest.raises(EpisodeError, match="no table 'nope'"):
        episode.rows("nope")


def test_fork_is_independent_and_shares_the_start(store):
    source = store.create("order-desk")
    call(source, "cancel_order", {"order_id": "O-1002", "reason": "late"})
    fork = store.fork(source.id)
    assert fork.id != source.id and fork.state_hash() == source.state_hash()
    assert "orders" in fork.diff()  # its start is the source's start, not the fork point
    call(fork, "cancel_order", {"order_id": "O-1006", "reason": "changed mind"})
    assert fork.state_hash() != source.state_hash()
    assert store.get(source.id).rows("orders")["orders"][5]["status"] == "pending"


def test_snapshot_and_restore(store):
    episode = store.create("bank-desk")
    start = episode.state_hash()
    snap = store.snapshot(episode.id)
    call(episode, "freeze_account", {"account_id": "AC-1001", "reason": "lost card"})
    assert episode.state_hash() != start
    store.restore(episode.id, snap)
    assert episode.state_hash() == start
    assert execute_tool(episode.runtime, episode.conn, "get_balance", {"account_id": "AC-1001"}).data["status"] == "active"
    with pytest.raises(EpisodeNotFound, match="no snapshot 'snap-x'"):
        store.restore(episode.id, "snap-x")


def test_close_and_unknown(store):
    episode = store.create("order-desk")
    store.close(episode.id)
    with pytest.raises(EpisodeNotFound, match="was closed"):
        store.get(episode.id)
    with pytest.raises(EpisodeNotFound, match="unknown to this hub: it never existed here, or it was lost when the hub restarted"):
        store.get("ep-never-made")
    with pytest.raises(EpisodeNotFound) as err:
        store.close(episode.id)
    assert err.value.status == 404
    with pytest.raises(UnknownEnvironment, match="unknown environment 'nope'; known environments: bank-desk") as err:
        store.create("nope")
    assert err.value.status == 404
    with pytest.raises(EpisodeError, match="already exists"):
        store.create("order-desk", episode_id=store.create("order-desk", episode_id="mine").id)
    with pytest.raises(EpisodeError, match="not valid"):
        store.create("order-desk", episode_id="has space")


def test_idle_expiry_with_a_fake_clock(specs):
    clock = FakeClock()
    store = EpisodeStore({"order-desk": EnvRuntime(specs["order-desk"])}, ttl_seconds=60, clock=clock)
    idle, busy = store.create("order-desk"), store.create("order-desk")
    clock.now += 45
    store.get(busy.id)
    clock.now += 30  # idle: 75 s without use; busy: 30 s
    assert store.expire_idle() == 1 and store.live_count == 1
    with pytest.raises(EpisodeNotFound, match="expired after 60 s idle"):
        store.get(idle.id)
    clock.now += 61
    with pytest.raises(EpisodeNotFound):  # lazily, without expire_idle
        store.get(busy.id)
    assert store.live_count == 0


def test_cap_on_live_episodes(specs):
    clock = FakeClock()
    store = EpisodeStore({"bank-desk": EnvRuntime(specs["bank-desk"])}, ttl_seconds=10, max_live=3, clock=clock)
    for _ in range(3):
        store.create("bank-desk")
    with pytest.raises(EpisodeLimitReached, match="live episode cap of 3 reached") as err:
        store.create("bank-desk")
    assert err.value.status == 429
    with pytest.raises(EpisodeLimitReached):
        store.fork(store.episodes()[0].id)
    clock.now += 11  # idle ones make room
    store.create("bank-desk")
    assert store.live_count == 1


def test_fifty_episodes_are_isolated(store):
    episodes = [store.create("bank-desk") for _ in range(50)]
    for i, episode in enumerate(episodes):
        call(episode, "deposit", {"account_id": "AC-1001", "amount": i + 1})
    for i, episode in enumerate(episodes):
        balance = call(episode, "get_balance", {"account_id": "AC-1001"})["balance"]
        assert balance == pytest.approx(2450.75 + i + 1)
    assert len({e.state_hash() for e in episodes}) == 50
    assert store.live_count >= 50


def test_seeded_episodes_differ_and_templates_are_cached(store):
    runtime = store.runtimes["order-desk"]
    a, b, a2 = store.create("order-desk", seed=1), store.create("order-desk", seed=2), store.create("order-desk", seed=1)
    assert a.state_hash() == a2.state_hash() != b.state_hash()
    assert a.row_counts()["orders"] == 6 + 20
    assert runtime.template(1) is runtime.template(1)
    with pytest.raises(EpisodeError, match="seed must be an integer"):
        store.create("order-desk", seed="7")  # type: ignore[arg-type]


# -- seed generation -----------------------------------------------------------------------------


def test_generated_rows_are_deterministic_typed_and_consistent(specs):
    for spec in specs.values():
        counts = {t.name: 15 for t in spec.tables}
        rows = generate_rows(spec, 11, counts)
        assert rows == generate_rows(spec, 11, counts)
        assert rows != generate_rows(spec, 12, counts)
        for table in spec.tables:
            assert len(rows[table.name]) == 15
            keys = [r[table.primary_key] for r in rows[table.name]]
            assert len(set(keys)) == 15
            for row in rows[table.name]:
                for column in table.columns:
                    assert check_value(column, row[column.name]) is None, (table.name, column.name, row)
                for fk in table.foreign_keys:
                    parents = {r[fk.ref_column] for r in rows[fk.ref_table]}
                    assert row[fk.column] in parents


def test_generated_values_fit_column_names(specs):
    rows = generate_rows(specs["order-desk"], 5, {"customers": 10, "products": 5})
    assert all("@" in c["email"] and " " in c["name"] for c in rows["customers"])
    assert all(isinstance(p["price"], float) and p["price"] > 0 for p in rows["products"])
    assert rows["orders"] == []


def test_initial_rows_add_generated_rows_without_key_clashes(specs):
    spec = specs["order-desk"]
    assert initial_rows(spec) == {t.name: spec.seed.rows.get(t.name, []) for t in spec.tables}
    rows = initial_rows(spec, seed=9)
    orders = [o["order_id"] for o in rows["orders"]]
    assert len(orders) == len(set(orders)) == 26 and orders[6] == "O-1007"
    customer_ids = {c["customer_id"] for c in rows["customers"]}
    assert all(o["customer_id"] in customer_ids for o in rows["orders"])


def test_parents_come_before_children(specs):
    order = [t.name for t in table_order(specs["order-desk"])]
    assert order.index("customers") < order.index("orders") < order.index("order_items")
    assert order.index("products") < order.index("returns")


def test_generator_seed_is_replaced_by_the_episode_seed(specs):
    from servers.spec import parse_envspec

    data = json.loads(specs["bank-desk"].model_dump_json())
    data["seed"]["generate"] = {"seed": 4, "rows": {"customers": 3, "accounts": 5}}
    spec = parse_envspec(data, "bank+generate")
    own = initial_rows(spec)
    assert len(own["customers"]) == 4 + 3 and len(own["accounts"]) == 7 + 5 and len(own["transfers"]) == 3
    assert own["customers"][:4] == spec.seed.rows["customers"]
    assert own == initial_rows(spec, seed=4) != initial_rows(spec, seed=5)
    with pytest.raises(ValueError, match="'customer_id' references 'customers', which has no rows"):
        generate_rows(spec, 1, {"accounts": 2})
