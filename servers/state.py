"""Per-episode state: one in-memory SQLite database per episode, copied from a prepared template.

An `EnvRuntime` builds an environment's database once per seed (tables, then seed rows) and keeps
the result as `serialize()`d bytes. Creating an episode is then `sqlite3.connect(":memory:")` plus
`deserialize(template)`: a memory copy, no schema work, no inserts, no process. The episode keeps
a reference to the bytes it started from, which serves `diff()`, and forks share it.

`canonical_state_hash` is the one definition of the state hash (docs/CONTRACTS.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from servers import sqlfunctions
from servers.seedgen import initial_rows
from servers.spec import Column, EnvSpec, ForeignKey, Table, ToolSpec
from servers.sqlguard import GuardedConnection
from servers.validation import ToolValidators

if TYPE_CHECKING:
    import mcp_types

_SQL_TYPES = {"string": "TEXT", "integer": "INTEGER", "number": "REAL", "boolean": "INTEGER",
              "enum": "TEXT", "date": "TEXT", "json": "TEXT"}
# Program statements are prepared once per connection and reused from this cache.
CACHED_STATEMENTS = 512
EPISODE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
MAX_SNAPSHOTS_PER_EPISODE = 16
# How many ids of closed or expired episodes are remembered, so that a request for one can say
# what happened to it rather than guess (about 100 bytes each).
GONE_EPISODES_REMEMBERED = 50_000


def quote(identifier: str) -> str:
    """A quoted SQL identifier (names are pattern-checked by the spec; quoting keeps keywords safe)."""
    return '"' + identifier.replace('"', '""') + '"'


# ---------------------------------------------------------------------------------------------
# Values between Python/JSON and SQLite
# ---------------------------------------------------------------------------------------------


def to_sql(column: Column, value: Any) -> Any:
    """The value as stored: booleans as 0/1 (SQLite has no boolean type), json as canonical text."""
    if column.type == "boolean" and isinstance(value, bool):
        return int(value)
    if column.type == "json" and value is not None:
        return canonical_json(value)
    return value


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sql_literal(column: Column, value: Any) -> str:
    """A column default as an SQL literal for the DDL."""
    value = to_sql(column, value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def from_sql(column: Column, value: Any) -> Any:
    """The stored value typed back by its column."""
    if value is None:
        return None
    if column.type == "boolean":
        return bool(value)
    if column.type == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if column.type == "json" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:  # text a program wrote without json(): keep it as the string it is
            return value
    return value


def _canonical_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical_value(v) for v in value]
    return value


def _integral_float(text: str) -> Any:
    value = float(text)
    return int(value) if value.is_integer() else value


def _canonical_rows_fast(rows: list[dict]) -> list[dict]:
    """`_canonical_value` of every row, through one C-speed JSON round trip: the same result
    (integral floats become ints, at any depth), much faster on nested json columns."""
    return json.loads(json.dumps(rows, ensure_ascii=False), parse_float=_integral_float)


def _key_order(value: Any) -> tuple:
    """Sort key of primary keys: numbers numerically, strings lexically, nulls last."""
    if value is None:
        return (2, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def canonical_rows(rows_by_table: dict[str, list[dict]], spec: EnvSpec) -> dict[str, list[dict]]:
    """Every table of the spec (empty ones too), rows complete, typed and sorted by primary key."""
    tables = {t.name: t for t in spec.tables}
    out: dict[str, list[dict]] = {}
    for name in sorted(set(tables) | set(rows_by_table)):
        table = tables.get(name)
        rows = rows_by_table.get(name) or []
        if table is None:
            out[name] = sorted((_canonical_value(dict(r)) for r in rows), key=lambda r: json.dumps(r, sort_keys=True))
            continue
        full_rows = []
        names = {c.name for c in table.columns}
        for row in rows:
            # json values arrive parsed (read_rows, seed rows): parsing them again would turn a
            # JSON string such as "12" into a number.
            full = {c.name: row.get(c.name) if c.type == "json" else from_sql(c, row.get(c.name))
                    for c in table.columns}
            full.update({k: v for k, v in row.items() if k not in names})
            full_rows.append(full)
        canon = _canonical_rows_fast(full_rows)
        canon.sort(key=lambda r: _key_order(r.get(table.primary_key)))
        out[name] = canon
    return out


def canonical_state_hash(rows_by_table: dict[str, list[dict]], spec: EnvSpec) -> str:
    """`sha256:<hex>` of the canonical JSON of every table: order of operations never matters."""
    canon = canonical_rows(rows_by_table, spec)
    text = json.dumps(canon, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------------------------
# Errors (each carries the HTTP status the hub answers with)
# ---------------------------------------------------------------------------------------------


class EpisodeError(Exception):
    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class UnknownEnvironment(EpisodeError):
    status = 404


class EpisodeNotFound(EpisodeError):
    status = 404


class EpisodeLimitReached(EpisodeError):
    status = 429


# ---------------------------------------------------------------------------------------------
# One prepared environment
# ---------------------------------------------------------------------------------------------


class Template(NamedTuple):
    data: bytes  # sqlite3 serialize() of the initial database; shared, never mutated
    state_hash: str


class EnvRuntime:
    """An EnvSpec ready to serve: lookups, the DDL, cached tool validators and template databases."""

    def __init__(self, spec: EnvSpec, template_cache_size: int = 32, validators: ToolValidators | None = None) -> None:
        self.spec = spec
        self.tables: dict[str, Table] = {t.name: t for t in spec.tables}
        self.tools: dict[str, ToolSpec] = {t.name: t for t in spec.tools}
        # Foreign keys pointing AT each table, so deletes can refuse to orphan child rows.
        self.referrers: dict[str, list[tuple[Table, ForeignKey]]] = {t.name: [] for t in spec.tables}
        for t in spec.tables:
            for fk in t.foreign_keys:
                self.referrers[fk.ref_table].append((t, fk))
        # Argument and output validators, compiled on first use; the owner picks the mode.
        self.validators = validators if validators is not None else ToolValidators()
        # The tools as MCP objects, built once by servers.mcp_server.mcp_tools.
        self.mcp_tools: list[mcp_types.Tool] | None = None
        self._template_cache_size = max(1, template_cache_size)
        self._templates: OrderedDict[int | None, Template] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    def ddl(self) -> list[str]:
        statements = []
        for t in self.spec.tables:
            parts = [
                f"{quote(c.name)} {_SQL_TYPES[c.type]}"
                + (f" DEFAULT {sql_literal(c, c.default)}" if c.default is not None else "")
                for c in t.columns
            ]
            parts.append(f"PRIMARY KEY ({quote(t.primary_key)})")
            for fk in t.foreign_keys:
                # Declared for readers of the schema; the executor enforces them with clear messages.
                parts.append(
                    f"FOREIGN KEY ({quote(fk.column)}) REFERENCES {quote(fk.ref_table)} ({quote(fk.ref_column)})"
                )
            statements.append(f"CREATE TABLE {quote(t.name)} ({', '.join(parts)})")
        return statements

    def build_connection(self, rows_by_table: dict[str, list[dict]]) -> sqlite3.Connection:
        """A fresh in-memory database with the tables and `rows_by_table` (the slow path)."""
        conn = open_connection()
        conn.execute("BEGIN")
        for statement in self.ddl():
            conn.execute(statement)
        for name, rows in rows_by_table.items():
            table = self.tables[name]
            cols = [c.name for c in table.columns]
            sql = (f"INSERT INTO {quote(name)} ({', '.join(quote(c) for c in cols)}) "
                   f"VALUES ({', '.join('?' for _ in cols)})")
            # A column left out of a row takes its declared default, as an insert would give it.
            conn.executemany(sql, ([to_sql(c, r.get(c.name, c.default)) for c in table.columns] for r in rows))
        conn.execute("COMMIT")
        return conn

    def template(self, seed: int | None = None) -> Template:
        """The serialized initial database for `seed` (None = the spec's own seed state) and its
        state hash; LRU-cached. Every fresh episode of a seed starts from these bytes, so hashing
        them once here saves the full-table read each create response would otherwise repeat."""
        with self._lock:
            cached = self._templates.get(seed)
            if cached is not None:
                self._templates.move_to_end(seed)
                return cached
        conn = self.build_connection(initial_rows(self.spec, seed))
        try:
            built = Template(conn.serialize(), canonical_state_hash(self.read_rows(conn), self.spec))
        finally:
            conn.close()
        with self._lock:
            self._templates[seed] = built
            while len(self._templates) > self._template_cache_size:
                self._templates.popitem(last=False)
        return built

    def read_rows(self, conn: sqlite3.Connection, table: str | None = None) -> dict[str, list[dict]]:
        names = [table] if table is not None else [t.name for t in self.spec.tables]
        out = {}
        for name in names:
            t = self.tables[name]
            cur = conn.execute(f"SELECT * FROM {quote(name)} ORDER BY {quote(t.primary_key)}")
            out[name] = self.decode_rows(t, cur.fetchall())
        release_page_cache(conn)
        return out

    def decode_rows(self, table: Table, raw_rows: list[tuple]) -> list[dict]:
        """Many rows typed back; json columns are parsed with one json.loads per column (a C call
        per column instead of a Python call per cell, which dominates reading nested tables)."""
        json_at = [i for i, c in enumerate(table.columns) if c.type == "json"]
        if not json_at or len(raw_rows) < 2:
            return [self.decode_row(table, r) for r in raw_rows]
        columns = [list(col) for col in zip(*raw_rows, strict=True)]
        for i in json_at:
            texts = columns[i]
            try:
                parsed = json.loads("[" + ",".join(t if isinstance(t, str) else "null" for t in texts) + "]")
            except ValueError:
                parsed = None
            if parsed is None or len(parsed) != len(texts) or any(not isinstance(t, str) for t in texts if t is not None):
                columns[i] = [from_sql(table.columns[i], t) for t in texts]  # a cell that is not JSON text
            else:
                columns[i] = parsed
        for i, column in enumerate(table.columns):
            if column.type != "json" and column.type in ("boolean", "integer"):
                columns[i] = [from_sql(column, v) for v in columns[i]]
        names = [c.name for c in table.columns]
        return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]

    def decode_row(self, table: Table, values: tuple) -> dict:
        return {c.name: from_sql(c, v) for c, v in zip(table.columns, values, strict=True)}


def open_connection() -> sqlite3.Connection:
    # Autocommit mode: the executor opens and ends its own transactions explicitly.
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None,
                           cached_statements=CACHED_STATEMENTS, factory=GuardedConnection)
    sqlfunctions.install(conn)
    return conn


def release_page_cache(conn: sqlite3.Connection) -> None:
    """Free the pages SQLite copied out of the episode's buffer while reading.

    A deserialized database is resizeable, so SQLite cannot map its pages and copies every page it
    reads into a per-connection cache (about the size of the database again, kept for the life
    of the connection). Freeing it after each use keeps a live episode at roughly one copy of its
    database, for about 5 µs per call.
    """
    with contextlib.suppress(sqlite3.Error):  # a closed connection has nothing to free
        conn.execute("PRAGMA shrink_memory")


def connection_from_bytes(data: bytes, max_bytes: int | None = None) -> sqlite3.Connection:
    conn = open_connection()
    conn.deserialize(data)
    limit_database_size(conn, max_bytes)
    return conn


def limit_database_size(conn: sqlite3.Connection, max_bytes: int | None) -> None:
    """Cap the database at `max_bytes`: a write that would grow it further fails with SQLITE_FULL
    and SQLite rolls the whole transaction back. `deserialize` resets the cap, so call it after."""
    if max_bytes is None:
        return
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {max(1, max_bytes // page_size)}")


# ---------------------------------------------------------------------------------------------
# Episodes
# ---------------------------------------------------------------------------------------------


class Episode:
    """One isolated copy of an environment's state."""

    def __init__(self, episode_id: str, runtime: EnvRuntime, conn: sqlite3.Connection, start: bytes,
                 clock: Callable[[], float] = time.monotonic, seed: int | None = None) -> None:
        self.id = episode_id
        self.env = runtime.spec.name
        self.runtime = runtime
        self.conn = conn
        self.seed = seed
        self._start = start  # shared with the template cache and with forks: never mutated
        self._clock = clock
        self.created_at = clock()
        self.last_used = self.created_at
        self.snapshots: dict[str, bytes] = {}
        # Set by a store with a journal (durable episodes); None keeps the episode memory-only.
        self.journal: EpisodeJournal | None = None
        # (conn.total_changes, hash) of the last hash computed: SQLite bumps total_changes on every
        # inserted, updated or deleted row, so an unchanged counter means unchanged rows and the
        # hash is reused instead of re-reading every table. Contents replaced any other way
        # (restoring a snapshot) must call `forget_hash`.
        self._hash_memo: tuple[int, str] | None = None

    def touch(self) -> None:
        """Called on every use, and after every tool call: a journal saves changed rows here."""
        self.last_used = self._clock()
        if self.journal is not None:
            self.journal.touched(self)

    def rows(self, table: str | None = None) -> dict[str, list[dict]]:
        if table is not None and table not in self.runtime.tables:
            raise EpisodeError(
                f"environment '{self.env}' has no table '{table}'; tables: {sorted(self.runtime.tables)}",
                status=404,
            )
        return self.runtime.read_rows(self.conn, table)

    def row_counts(self) -> dict[str, int]:
        counts = {
            t.name: self.conn.execute(f"SELECT COUNT(*) FROM {quote(t.name)}").fetchone()[0]
            for t in self.runtime.spec.tables
        }
        release_page_cache(self.conn)
        return counts

    def state_hash(self) -> str:
        known = self.known_hash()
        if known is not None:
            return known
        changes = self.conn.total_changes
        value = canonical_state_hash(self.rows(), self.runtime.spec)
        self._hash_memo = (changes, value)
        return value

    def remember_hash(self, value: str) -> None:
        """Record `value` as the hash of the rows as they are now (e.g. a template's known hash)."""
        self._hash_memo = (self.conn.total_changes, value)

    def forget_hash(self) -> None:
        self._hash_memo = None

    def known_hash(self) -> str | None:
        """The memoized hash if the rows have not changed since it was computed, else None."""
        if self._hash_memo is not None and self._hash_memo[0] == self.conn.total_changes:
            return self._hash_memo[1]
        return None

    def start_rows(self) -> dict[str, list[dict]]:
        conn = connection_from_bytes(self._start)
        try:
            return self.runtime.read_rows(conn)
        finally:
            conn.close()

    def diff(self) -> dict:
        """Changes since the episode started, per changed table: inserted, deleted, updated rows."""
        before_all = self.start_rows()
        after_all = self.rows()
        changes: dict[str, dict] = {}
        for table in self.runtime.spec.tables:
            pk = table.primary_key
            before = {r[pk]: r for r in before_all[table.name]}
            after = {r[pk]: r for r in after_all[table.name]}
            inserted = [after[k] for k in after if k not in before]
            deleted = [before[k] for k in before if k not in after]
            updated = [
                {"key": k, "before": before[k], "after": after[k]}
                for k in after
                if k in before and _canonical_value(before[k]) != _canonical_value(after[k])
            ]
            if inserted or deleted or updated:
                changes[table.name] = {"inserted": inserted, "deleted": deleted, "updated": updated}
        return changes


class EpisodeJournal(Protocol):
    """What an `EpisodeStore` tells a persistence layer (servers.durable.DurableEpisodes).

    A store without one keeps episodes in memory only and never calls any of this.
    `dropped` gets the reason: "closed", "expired" or "shutdown" (the hub stops; keep the episode).
    """

    def recover(self, store: EpisodeStore) -> list[Episode]: ...
    def created(self, episode: Episode, source: Episode | None) -> None: ...
    def touched(self, episode: Episode) -> None: ...
    def replaced(self, episode: Episode) -> None: ...
    def snapshot_taken(self, episode: Episode, snapshot_id: str) -> None: ...
    def dropped(self, episode: Episode, reason: str) -> None: ...
    def sweep(self, episodes: Iterable[Episode]) -> None: ...
    def close(self, episodes: Iterable[Episode]) -> None: ...


class EpisodeStore:
    """Live episodes of many environments, with idle expiry and a cap on how many may live."""

    def __init__(self, runtimes: dict[str, EnvRuntime], ttl_seconds: float = 900, max_live: int = 20000,
                 clock: Callable[[], float] = time.monotonic, journal: EpisodeJournal | None = None, *,
                 max_episode_bytes: int | None = None, max_snapshots: int = MAX_SNAPSHOTS_PER_EPISODE,
                 max_snapshot_bytes: int | None = None) -> None:
        self.runtimes = runtimes
        self.ttl_seconds = ttl_seconds
        self.max_live = max_live
        self.max_episode_bytes = max_episode_bytes
        self.max_snapshots = max_snapshots
        self.max_snapshot_bytes = max_snapshot_bytes
        # Slots promised to something that will become an episode (the hub's MCP sessions that
        # have none yet); they count against `max_live` like live episodes.
        self.reserved_slots: Callable[[], int] = lambda: 0
        self._clock = clock
        self._episodes: dict[str, Episode] = {}
        self._gone: OrderedDict[str, str] = OrderedDict()  # episode id -> why it is gone
        self.journal = journal
        if journal is not None:
            self._episodes.update((episode.id, episode) for episode in journal.recover(self))

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    @property
    def live_count(self) -> int:
        return len(self._episodes)

    def __contains__(self, episode_id: str) -> bool:
        return episode_id in self._episodes

    def episodes(self) -> list[Episode]:
        return list(self._episodes.values())

    def _runtime(self, env: str) -> EnvRuntime:
        runtime = self.runtimes.get(env)
        if runtime is None:
            known = sorted(self.runtimes)
            shown = ", ".join(known[:10]) + (f" (and {len(known) - 10} more)" if len(known) > 10 else "")
            raise UnknownEnvironment(f"unknown environment '{env}'; known environments: {shown or 'none'}")
        return runtime

    def _new_id(self, episode_id: str | None) -> str:
        if episode_id is None:
            return "ep-" + secrets.token_hex(8)
        if not EPISODE_ID_PATTERN.match(episode_id):
            raise EpisodeError(
                f"episode id {episode_id!r} is not valid: use 1-128 letters, digits, '_', '.' or '-'", status=400
            )
        if episode_id in self._episodes:
            raise EpisodeError(f"episode '{episode_id}' already exists", status=409)
        return episode_id

    def has_room(self) -> bool:
        return len(self._episodes) + self.reserved_slots() < self.max_live

    def _make_room(self) -> None:
        if self.has_room():
            return
        self.expire_idle()
        if not self.has_room():
            raise EpisodeLimitReached(
                f"live episode cap of {self.max_live} reached (open MCP sessions count too); close "
                f"finished episodes (DELETE /episodes/{{id}}) or wait for idle ones to expire after "
                f"{self.ttl_seconds:g} s"
            )

    def create(self, env: str, seed: int | None = None, episode_id: str | None = None) -> Episode:
        runtime = self._runtime(env)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise EpisodeError(f"seed must be an integer or null, got {seed!r}", status=400)
        episode_id = self._new_id(episode_id)
        self._make_room()
        template = runtime.template(seed)
        conn = connection_from_bytes(template.data, self.max_episode_bytes)
        episode = Episode(episode_id, runtime, conn, template.data, self._clock, seed)
        episode.remember_hash(template.state_hash)
        self._journal_created(episode, None)
        self._episodes[episode_id] = episode
        self._gone.pop(episode_id, None)  # a caller-chosen id may be reused
        return episode

    def _journal_created(self, episode: Episode, source: Episode | None) -> None:
        if self.journal is None:
            return
        try:
            self.journal.created(episode, source)
        except BaseException:
            episode.conn.close()
            raise

    def _expired(self, episode: Episode) -> bool:
        return self._clock() - episode.last_used > self.ttl_seconds

    def get(self, episode_id: str) -> Episode:
        episode = self._episodes.get(episode_id)
        if episode is not None and self._expired(episode):
            self._drop(episode_id, "expired")
            episode = None
        if episode is None:
            raise EpisodeNotFound(self.missing_message(episode_id))
        episode.touch()
        return episode

    def missing_message(self, episode_id: str, advice: str = "create a new episode") -> str:
        """Why `episode_id` is not live (closed, expired, or never seen by this hub process), then `advice`."""
        why = self._gone.get(episode_id)
        if why == "expired":
            reason = f"episode '{episode_id}' expired after {self.ttl_seconds:g} s idle and its state is gone"
        elif why == "closed":
            reason = f"episode '{episode_id}' was closed"
        else:
            reason = (f"episode '{episode_id}' is unknown to this hub: it never existed here, or it was lost "
                      "when the hub restarted")
        return f"{reason}; {advice}"

    def fork(self, episode_id: str) -> Episode:
        source = self.get(episode_id)
        self._make_room()
        new_id = self._new_id(None)
        conn = connection_from_bytes(source.conn.serialize(), self.max_episode_bytes)
        episode = Episode(new_id, source.runtime, conn, source._start, self._clock, source.seed)
        known = source.known_hash()
        if known is not None:
            episode.remember_hash(known)
        self._journal_created(episode, source)
        self._episodes[new_id] = episode
        return episode

    def snapshot(self, episode_id: str) -> str:
        episode = self.get(episode_id)
        if len(episode.snapshots) >= self.max_snapshots:
            raise EpisodeError(
                f"episode '{episode_id}' already holds {self.max_snapshots} snapshots (the limit); "
                "restore or fork from one of them, or start a new episode",
                status=409,
            )
        data = episode.conn.serialize()
        if self.max_snapshot_bytes is not None:
            held = sum(len(kept) for kept in episode.snapshots.values())
            if held + len(data) > self.max_snapshot_bytes:
                raise EpisodeError(
                    f"episode '{episode_id}': a snapshot of {len(data)} bytes would bring its snapshots to "
                    f"{held + len(data)} bytes, over the limit of {self.max_snapshot_bytes} bytes",
                    status=409,
                )
        snapshot_id = "snap-" + secrets.token_hex(6)
        episode.snapshots[snapshot_id] = data
        if self.journal is not None:
            self.journal.snapshot_taken(episode, snapshot_id)
        return snapshot_id

    def restore(self, episode_id: str, snapshot_id: str) -> None:
        episode = self.get(episode_id)
        data = episode.snapshots.get(snapshot_id)
        if data is None:
            raise EpisodeNotFound(
                f"episode '{episode_id}' has no snapshot '{snapshot_id}'"
                + (f"; its snapshots: {sorted(episode.snapshots)}" if episode.snapshots else "")
            )
        episode.conn.deserialize(data)
        limit_database_size(episode.conn, self.max_episode_bytes)
        episode.forget_hash()
        if self.journal is not None:
            self.journal.replaced(episode)

    def close(self, episode_id: str) -> None:
        if episode_id not in self._episodes:
            raise EpisodeNotFound(self.missing_message(episode_id))
        self._drop(episode_id, "closed")

    def _drop(self, episode_id: str, why: str) -> None:
        episode = self._episodes.pop(episode_id, None)
        if episode is not None:
            if self.journal is not None:
                self.journal.dropped(episode, why)
            episode.snapshots.clear()
            episode.conn.close()
            self._gone[episode_id] = why
            if len(self._gone) > GONE_EPISODES_REMEMBERED:
                self._gone.popitem(last=False)

    def expire_idle(self) -> int:
        expired = [eid for eid, ep in self._episodes.items() if self._expired(ep)]
        for eid in expired:
            self._drop(eid, "expired")
        if self.journal is not None:
            self.journal.sweep(self._episodes.values())
        return len(expired)

    def close_all(self) -> None:
        """The store stops: every episode is released (a journal keeps them for the next start)."""
        if self.journal is not None:
            self.journal.close(list(self._episodes.values()))
        for eid in list(self._episodes):
            self._drop(eid, "shutdown")
