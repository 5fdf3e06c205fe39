"""Durable episodes at the store level (servers/durable.py): what is written, recovered and deleted."""

from __future__ import annotations

import os
import sqlite3

import pytest
from sqlmodel import Session, select

from servers.durable import (
    DurableEpisodes,
    DurableStateError,
    EpisodeFile,
    EpisodeFileError,
    EpisodeRecord,
    SnapshotRecord,
    write_atomically,
)
from servers.examples import example_spec_paths
from servers.executor import execute_tool
from servers.spec import load_envspec
from servers.state import EnvRuntime, EpisodeStore

ENV = "order-desk"


class Clock:
    """A clock the test moves by hand; stands for the monotonic clock of the store and the wall clock."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def runtimes() -> dict[str, EnvRuntime]:
    specs = [load_envspec(p) for p in example_spec_paths()]
    return {spec.name: EnvRuntime(spec) for spec in specs}


def open_store(runtimes, state_dir, *, ttl: float = 900, clock: Clock | None = None, url: str | None = None):
    clock = clock or Clock()
    journal = DurableEpisodes(state_dir, url, wall_clock=clock)
    return EpisodeStore(runtimes, ttl_seconds=ttl, clock=clock, journal=journal), journal


def call(episode, tool: str, **arguments):
    outcome = execute_tool(episode.runtime, episode.conn, tool, arguments)
    episode.touch()  # what the MCP server does after every call
    assert outcome.ok, outcome.error
    return outcome.data


def registry(journal: DurableEpisodes) -> tuple[list[EpisodeRecord], list[SnapshotRecord]]:
    with Session(journal.engine) as session:
        return list(session.exec(select(EpisodeRecord)).all()), list(session.exec(select(SnapshotRecord)).all())


def test_restart_recovers_state_snapshots_forks_and_diffs(runtimes, tmp_path):
    store, journal = open_store(runtimes, tmp_path)
    episode = store.create(ENV)
    call(episode, "cancel_order", order_id="O-1002", reason="late")
    snapshot = store.snapshot(episode.id)
    call(episode, "update_customer_contact", customer_id="C-1001", phone="+1-555-0100")
    fork = store.fork(episode.id)
    call(fork, "update_shipping_address", order_id="O-1003", shipping_address="1 Fork Road")
    seeded = store.create("bank-desk", seed=7)
    before = {e.id: (e.state_hash(), e.diff()) for e in (episode, fork, seeded)}
    assert len({h for h, _ in before.values()}) == 3
    store.close_all()

    again, journal = open_store(runtimes, tmp_path)
    assert journal.recovered == 3 and again.live_count == 3
    for episode_id, (state_hash, diff) in before.items():
        recovered = again.get(episode_id)
        assert recovered.state_hash() == state_hash
        assert recovered.diff() == diff
    assert again.get(seeded.id).seed == 7
    assert list(again.get(episode.id).snapshots) == [snapshot]
    again.restore(episode.id, snapshot)
    restored_hash = again.get(episode.id).state_hash()
    assert restored_hash != before[episode.id][0]
    again.close_all()

    # The restore itself was saved: a third start sees the restored rows.
    third, _ = open_store(runtimes, tmp_path)
    assert third.get(episode.id).state_hash() == restored_hash
    third.close_all()


def test_reads_write_nothing(runtimes, tmp_path):
    store, journal = open_store(runtimes, tmp_path)
    episode = store.create(ENV)
    path = journal.episode_path(episode.id)
    written = path.stat().st_mtime_ns, path.stat().st_ino
    for _ in range(3):
        outcome = execute_tool(episode.runtime, episode.conn, "get_order", {"order_id": "O-1001"})
        episode.touch()
        assert outcome.ok
    episode.state_hash()
    episode.diff()
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == written
    call(episode, "cancel_order", order_id="O-1002", reason="late")
    assert path.stat().st_ino != written[1]  # replaced by a rename, not rewritten in place
    store.close_all()


def test_a_failed_call_leaves_the_saved_state_as_it_was(runtimes, tmp_path):
    store, journal = open_store(runtimes, tmp_path)
    episode = store.create(ENV)
    start_hash = episode.state_hash()
    outcome = execute_tool(episode.runtime, episode.conn, "cancel_order", {"order_id": "O-404", "reason": "x"})
    episode.touch()
    assert not outcome.ok
    store.close_all()
    again, _ = open_store(runtimes, tmp_path)
    assert again.get(episode.id).state_hash() == start_hash
    again.close_all()


def test_closed_and_expired_episodes_leave_disk_and_registry(runtimes, tmp_path):
    clock = Clock()
    store, journal = open_store(runtimes, tmp_path, ttl=60, clock=clock)
    closed, idle, busy = store.create(ENV), store.create(ENV), store.create(ENV)
    store.snapshot(idle.id)
    store.close(closed.id)
    assert not journal.episode_path(closed.id).exists()
    clock.now += 45
    store.get(busy.id)
    clock.now += 30  # idle: 75 s unused; busy: 30 s
    assert store.expire_idle() == 1
    assert not journal.episode_path(idle.id).exists()
    assert not journal.snapshot_dir(idle.id).exists()
    episodes, snapshots = registry(journal)
    assert [r.episode_id for r in episodes] == [busy.id] and snapshots == []
    # The idle clock of the episode that was used went to the registry with the sweep.
    assert episodes[0].last_used == pytest.approx(clock.now - 30)
    assert episodes[0].expires_at == pytest.approx(clock.now - 30 + 60)
    store.close(busy.id)
    assert list((tmp_path / "starts").iterdir()) == []  # no episode left that started there
    store.close_all()


def test_ttl_continues_across_a_restart_from_the_stored_last_use(runtimes, tmp_path):
    clock = Clock()
    store, journal = open_store(runtimes, tmp_path, ttl=100, clock=clock)
    stale, fresh = store.create(ENV), store.create(ENV)
    clock.now += 60
    store.get(fresh.id)
    store.close_all()
    # Episode files carry the time of the write as their mtime, which recovery counts as use.
    os.utime(journal.episode_path(stale.id), (clock.now - 60, clock.now - 60))
    os.utime(journal.episode_path(fresh.id), (clock.now - 60, clock.now - 60))

    clock.now += 50  # down for 50 s: stale was last used 110 s ago, fresh 50 s ago
    again, journal = open_store(runtimes, tmp_path, ttl=100, clock=clock)
    assert journal.expired_on_start == 1 and stale.id not in again and fresh.id in again
    assert not journal.episode_path(stale.id).exists()
    assert [r.episode_id for r in registry(journal)[0]] == [fresh.id]
    clock.now += 51  # 101 s since its last use: expires on schedule, not 100 s after the restart
    assert again.expire_idle() == 1 and again.live_count == 0
    again.close_all()


def test_a_crash_mid_write_leaves_the_previous_state(runtimes, tmp_path):
    store, journal = open_store(runtimes, tmp_path)
    episode = store.create(ENV)
    call(episode, "cancel_order", order_id="O-1002", reason="late")
    saved_hash = episode.state_hash()
    path = journal.episode_path(episode.id)
    # A process killed while writing leaves a partial temporary file; the episode file is untouched.
    (path.parent / f"{path.name}.tmp-99999").write_bytes(b"SQLite format 3\x00 torn")
    # And one killed between writing an episode file and its registry row leaves an orphan.
    (path.parent / "ep-orphan.sqlite").write_bytes(path.read_bytes())
    journal._lock_handle.close()  # the kernel drops the lock of a killed process

    again, journal = open_store(runtimes, tmp_path)
    assert again.get(episode.id).state_hash() == saved_hash
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    again.close_all()


def test_a_missing_episode_file_drops_its_row_and_keeps_the_others(runtimes, tmp_path):
    store, journal = open_store(runtimes, tmp_path)
    lost, kept = store.create(ENV), store.create(ENV)
    store.close_all()
    journal.episode_path(lost.id).unlink()
    again, journal = open_store(runtimes, tmp_path)
    assert lost.id not in again and kept.id in again
    assert [r.episode_id for r in registry(journal)[0]] == [kept.id]
    again.close_all()


def test_one_hub_per_state_folder(runtimes, tmp_path):
    store, _ = open_store(runtimes, tmp_path)
    with pytest.raises(DurableStateError, match="already in use"):
        DurableEpisodes(tmp_path)
    store.close_all()
    DurableEpisodes(tmp_path).close([])  # released on close


def test_hubs_sharing_a_registry_recover_only_their_own_episodes(runtimes, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    one, _ = open_store(runtimes, tmp_path / "one", url=url)
    two, _ = open_store(runtimes, tmp_path / "two", url=url)
    a, b = one.create(ENV), two.create(ENV)
    one.close_all()
    two.close_all()
    again, journal = open_store(runtimes, tmp_path / "one", url=url)
    assert a.id in again and b.id not in again
    owners = {r.episode_id: r.owner for r in registry(journal)[0]}
    assert set(owners) == {a.id, b.id} and owners[a.id] != owners[b.id]
    again.close_all()


def test_episodes_of_environments_no_longer_served_stay_on_disk(runtimes, tmp_path):
    store, journal = open_store(runtimes, tmp_path)
    episode = store.create("bank-desk")
    store.close_all()
    only_orders = {ENV: runtimes[ENV]}
    again, journal = open_store(only_orders, tmp_path)
    assert episode.id not in again and journal.episode_path(episode.id).exists()
    again.close_all()
    back, _ = open_store(runtimes, tmp_path)
    assert episode.id in back
    back.close_all()


def test_memory_only_store_has_no_journal(runtimes):
    store = EpisodeStore(runtimes)
    episode = store.create(ENV)
    assert store.journal is None and episode.journal is None


def test_state_url_that_cannot_be_opened_is_named(runtimes, tmp_path):
    with pytest.raises(DurableStateError, match="nosuchdialect"):
        DurableEpisodes(tmp_path, "nosuchdialect://x")


def test_write_atomically_replaces_whole_files(tmp_path):
    target = tmp_path / "f.bin"
    write_atomically(target, b"one")
    write_atomically(target, b"two", fsync=True)
    assert target.read_bytes() == b"two" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]


# -- one episode in one file (stdio) ----------------------------------------------------------------


def file_store(runtimes, path):
    return EpisodeStore({ENV: runtimes[ENV]}, ttl_seconds=float("inf"), max_live=1, journal=EpisodeFile(path))


def test_episode_file_carries_an_episode_from_process_to_process(runtimes, tmp_path):
    path = tmp_path / "sub" / "orders.sqlite"
    first = file_store(runtimes, path)
    episode = first.create(ENV)
    assert path.exists()
    call(episode, "cancel_order", order_id="O-1002", reason="late")
    state_hash = episode.state_hash()
    first.close_all()
    second = file_store(runtimes, path)
    assert second.create(ENV).state_hash() == state_hash
    second.close_all()


def test_episode_file_sees_writes_of_another_process(runtimes, tmp_path):
    path = tmp_path / "orders.sqlite"
    mine, theirs = file_store(runtimes, path), file_store(runtimes, path)
    a, b = mine.create(ENV), theirs.create(ENV)
    call(b, "cancel_order", order_id="O-1002", reason="late")
    mine.journal.refresh(a)
    assert a.state_hash() == b.state_hash()
    mine.close_all()
    theirs.close_all()


def test_episode_file_of_another_environment_or_not_a_database_is_refused(runtimes, tmp_path):
    other = tmp_path / "bank.sqlite"
    bank = EpisodeStore({"bank-desk": runtimes["bank-desk"]}, journal=EpisodeFile(other))
    bank.create("bank-desk")
    bank.close_all()
    with pytest.raises(EpisodeFileError, match="tables differ"):
        file_store(runtimes, other).create(ENV)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(EpisodeFileError, match="not an episode database"):
        file_store(runtimes, junk).create(ENV)


def test_episode_files_are_plain_sqlite(runtimes, tmp_path):
    path = tmp_path / "orders.sqlite"
    store = file_store(runtimes, path)
    episode = store.create(ENV)
    call(episode, "cancel_order", order_id="O-1002", reason="late")
    store.close_all()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT status FROM orders WHERE order_id = 'O-1002'").fetchone() == ("cancelled",)


def test_a_state_dir_that_cannot_be_used_is_named(runtimes, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(DurableStateError, match="a-file"):
        DurableEpisodes(blocker / "state")


def test_episodes_whose_tables_changed_stay_on_disk_unserved(runtimes, tmp_path, caplog):
    store, journal = open_store(runtimes, tmp_path)
    episode = store.create(ENV)
    store.close_all()
    spec = runtimes[ENV].spec.model_copy(deep=True)
    spec.tables[0].columns.append(spec.tables[0].columns[-1].model_copy(update={"name": "loyalty_points"}))
    changed = {ENV: EnvRuntime(spec)}
    again, journal = open_store(changed, tmp_path)
    assert episode.id not in again and journal.episode_path(episode.id).exists()
    assert f"episode {episode.id} kept on disk but not served" in caplog.text and "tables differ" in caplog.text
    again.close_all()


def test_an_episode_id_of_dots_stays_inside_the_state_folder(runtimes, tmp_path):
    store, journal = open_store(runtimes, tmp_path)
    episode = store.create(ENV, episode_id="..")
    store.snapshot(episode.id)
    store.close(episode.id)
    assert {p.name for p in tmp_path.iterdir()} >= {"registry.sqlite", "hub-id", "lock", "episodes"}
    store.close_all()
