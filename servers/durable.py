"""Durable episodes: a hub restart (or crash) loses no episode, snapshot or idle clock.

`DurableEpisodes` is the `EpisodeJournal` an `EpisodeStore` reports to when a hub runs with
`--state-dir DIR`; without one the store never calls into this module, so the in-memory hub pays
nothing. Two kinds of data are kept:

* **Episode databases** as files in DIR, the same `sqlite3.serialize()` bytes the store already
  keeps in memory for templates and snapshots:

      DIR/episodes/<episode_id>.sqlite           the episode's current state
      DIR/snapshots/<episode_id>.snapshots/<snapshot>.sqlite
      DIR/starts/<state-hash hex>.sqlite         the state an episode started from (serves diff),
                                                 shared by every episode that started there

  Each file is written whole to a temporary name and renamed over the old one, so a reader (or
  a restart after a crash) sees either the previous or the new state, never a torn one. An
  episode file is written after a call that changed rows (SQLite's `total_changes` moved) and
  after a restore; reads write nothing.

* **A registry** of episodes, snapshots, owners and idle clocks, kept through SQLModel in
  `DIR/registry.sqlite` or in any SQLAlchemy database (`--state-url`) that several hubs share.
  The owner of a row is the hub whose state folder holds its files (DIR/hub-id), so hubs sharing
  one registry each recover only their own episodes. Last-use times of reads are flushed in one
  transaction per expiry sweep; a write refreshes the episode file's mtime, which recovery also
  counts as use.

`EpisodeFile` is the journal of a stdio server's single episode (`--episode-file FILE`): the
database in one file, calls of concurrent processes serialized by a lock on FILE.lock.

See docs/durability.md for what survives what.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, col, create_engine, delete, select, update

from servers.state import EpisodeError, canonical_state_hash, connection_from_bytes

if TYPE_CHECKING:
    from servers.state import EnvRuntime, Episode, EpisodeStore

logger = logging.getLogger("envhub.durable")

REGISTRY_FILE = "registry.sqlite"
OWNER_FILE = "hub-id"
LOCK_FILE = "lock"
_SUFFIX = ".sqlite"
_TEMP_MARK = ".tmp-"
# Snapshot folders get a suffix so that no episode id (ids may be "..") names a folder outside.
_SNAPSHOTS_SUFFIX = ".snapshots"
_START_KEY = re.compile(r"^[0-9a-f]{64}$")


class DurableStateError(RuntimeError):
    """The state folder or registry cannot be used; the message names the folder or URL and why."""


# ---------------------------------------------------------------------------------------------
# The registry (SQLModel tables)
# ---------------------------------------------------------------------------------------------


class EpisodeRecord(SQLModel, table=True):
    """One live episode of one hub. Times are Unix seconds (wall clock: they must outlive the process)."""

    __tablename__ = "envhub_episodes"

    episode_id: str = Field(primary_key=True, max_length=128)
    # The hub that holds the episode's files (its state folder's DIR/hub-id).
    owner: str = Field(index=True, max_length=64)
    env: str = Field(max_length=256)
    seed: int | None = None
    # Hex state hash of the database the episode started from: names DIR/starts/<start_key>.sqlite.
    start_key: str = Field(max_length=64)
    created_at: float
    last_used: float
    # last_used + the TTL of the hub that wrote the row, for whoever queries the registry; a
    # restarted hub judges expiry from last_used with its own (possibly changed) --ttl.
    expires_at: float | None = Field(default=None, index=True)
    # Size of the last episode file written at creation; the file itself is the truth.
    size_bytes: int = 0


class SnapshotRecord(SQLModel, table=True):
    """One snapshot of an episode (its bytes are DIR/snapshots/<episode_id>/<snapshot_id>.sqlite)."""

    __tablename__ = "envhub_snapshots"

    episode_id: str = Field(primary_key=True, max_length=128, foreign_key="envhub_episodes.episode_id")
    snapshot_id: str = Field(primary_key=True, max_length=64)
    created_at: float
    size_bytes: int


def registry_engine(url: str, *, fsync: bool = False) -> Engine:
    """An engine for the registry at `url` with the tables created (idempotent, shared by hubs).

    A SQLite registry syncs at checkpoints only (WAL, synchronous=NORMAL) unless `fsync`, like the
    episode files: a process crash loses nothing either way, a power cut may lose the last rows.
    """
    try:
        engine = create_engine(url)
    except Exception as err:  # a malformed URL or a driver that is not installed
        raise DurableStateError(f"state-url {url!r}: cannot open the registry: {err}") from None
    if engine.dialect.name == "sqlite":
        # WAL lets a reader (another hub, sqlite3 on the command line) look while this hub writes.
        synchronous = "FULL" if fsync else "NORMAL"

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, connection_record) -> None:  # noqa: ARG001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    try:
        SQLModel.metadata.create_all(engine, tables=[EpisodeRecord.__table__, SnapshotRecord.__table__])
    except SQLAlchemyError as err:
        raise DurableStateError(f"registry {_safe_url(engine)}: cannot create its tables: {err}") from None
    return engine


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def write_atomically(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """`path` holds `data` afterwards, or (after a crash at any point) its previous content."""
    temp = path.with_name(f"{path.name}{_TEMP_MARK}{os.getpid()}")
    with open(temp, "wb") as handle:
        handle.write(data)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temp, path)
    if fsync:
        # The rename itself lives in the directory: sync it too, or a power cut may undo it.
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _schema_of(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    return [row[0] for row in rows]


def schema_problem(runtime: EnvRuntime, conn: sqlite3.Connection) -> str | None:
    """Why a stored database does not fit `runtime`'s tables (None when it does)."""
    stored = _schema_of(conn)
    expected = sorted(runtime.ddl(), key=lambda ddl: ddl.split('"')[1])
    if stored == expected:
        return None
    return (f"its tables differ from environment '{runtime.name}' as now defined (the spec changed since "
            "it was saved)")


# ---------------------------------------------------------------------------------------------
# The journal
# ---------------------------------------------------------------------------------------------


class DurableEpisodes:
    """Persists a store's episodes in `state_dir` and its registry at `registry_url`.

    One hub at a time may use a state folder: it is locked while open, and a second hub on the
    same folder refuses to start rather than overwrite the first one's files.
    """

    def __init__(self, state_dir: str | Path, registry_url: str | None = None, *, fsync: bool = False,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.state_dir = Path(state_dir).expanduser().resolve()
        self.fsync = fsync
        self._wall = wall_clock
        try:
            for sub in ("episodes", "snapshots", "starts"):
                (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DurableStateError(f"state-dir {self.state_dir}: cannot create it: {err.strerror}") from None
        self._lock_handle = self._lock_folder()
        try:
            self.owner = self._owner_id()
            self.registry_url = registry_url or f"sqlite:///{self.state_dir / REGISTRY_FILE}"
            self.engine = registry_engine(self.registry_url, fsync=fsync)
        except BaseException:
            self._lock_handle.close()
            raise
        self._clock: Callable[[], float] = time.monotonic
        self._ttl = float("inf")
        # total_changes of each episode's connection when its file was last written.
        self._saved_changes: dict[str, int] = {}
        self._start_keys: dict[str, str] = {}
        self._start_refs: Counter[str] = Counter()
        # Episodes used since the last sweep: their registry last_used is stale.
        self._used: set[str] = set()
        self.recovered = 0
        self.expired_on_start = 0
        self.write_failures = 0

    # -- folder identity ------------------------------------------------------------------------

    def _lock_folder(self):
        try:
            handle = open(self.state_dir / LOCK_FILE, "a+")  # noqa: SIM115 - held for the hub's lifetime
        except OSError as err:
            raise DurableStateError(f"state-dir {self.state_dir}: cannot use it: {_reason(err)}") from None
        try:
            _lock_exclusively(handle)
        except OSError as err:
            if not isinstance(err, BlockingIOError) and os.name != "nt":
                handle.close()
                raise DurableStateError(f"state-dir {self.state_dir}: cannot lock it: {_reason(err)}") from None
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise DurableStateError(
                f"state-dir {self.state_dir}: already in use by {holder}; one hub per state folder "
                "(give each hub its own --state-dir; they may share --state-url)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        return handle

    def _owner_id(self) -> str:
        path = self.state_dir / OWNER_FILE
        if path.is_file():
            owner = path.read_text(encoding="utf-8").strip()
            if owner:
                return owner
        owner = uuid.uuid4().hex
        try:
            write_atomically(path, owner.encode() + b"\n", fsync=True)
        except OSError as err:
            raise DurableStateError(f"state-dir {self.state_dir}: cannot write {OWNER_FILE}: {_reason(err)}") from None
        return owner

    # -- paths ----------------------------------------------------------------------------------

    def episode_path(self, episode_id: str) -> Path:
        return self.state_dir / "episodes" / f"{episode_id}{_SUFFIX}"

    def snapshot_dir(self, episode_id: str) -> Path:
        return self.state_dir / "snapshots" / f"{episode_id}{_SNAPSHOTS_SUFFIX}"

    def snapshot_path(self, episode_id: str, snapshot_id: str) -> Path:
        return self.snapshot_dir(episode_id) / f"{snapshot_id}{_SUFFIX}"

    def start_path(self, key: str) -> Path:
        return self.state_dir / "starts" / f"{key}{_SUFFIX}"

    # -- conversions between the store's clock and the wall clock ------------------------------

    def _to_wall(self, moment: float) -> float:
        return self._wall() - (self._clock() - moment)

    def _from_wall(self, moment: float) -> float:
        return self._clock() - (self._wall() - moment)

    def _expiry(self, last_used: float) -> float | None:
        return last_used + self._ttl if math.isfinite(self._ttl) else None

    # -- EpisodeJournal: recovery ---------------------------------------------------------------

    def recover(self, store: EpisodeStore) -> list[Episode]:
        """The episodes this folder holds, rebuilt for `store`; expired ones are deleted on the way."""
        from servers.state import Episode

        self._clock = store.clock
        self._ttl = store.ttl_seconds
        with Session(self.engine) as session:
            records = session.exec(select(EpisodeRecord).where(EpisodeRecord.owner == self.owner)).all()
            snapshot_rows = session.exec(
                select(SnapshotRecord).where(col(SnapshotRecord.episode_id).in_([r.episode_id for r in records]))
            ).all() if records else []
        snapshots_of: dict[str, list[SnapshotRecord]] = {}
        for snap in snapshot_rows:
            snapshots_of.setdefault(snap.episode_id, []).append(snap)
        now = self._wall()
        episodes: list[Episode] = []
        starts: dict[str, bytes] = {}
        kept: dict[str, str] = {}  # episode id -> start key of every record left in the registry
        for record in records:
            path = self.episode_path(record.episode_id)
            last_used = record.last_used
            with contextlib.suppress(FileNotFoundError):
                last_used = max(last_used, path.stat().st_mtime)
            if now - last_used > store.ttl_seconds:
                self._delete(record.episode_id, record.start_key, snapshots_of.get(record.episode_id, []))
                self.expired_on_start += 1
                continue
            kept[record.episode_id] = record.start_key
            runtime = store.runtimes.get(record.env)
            if runtime is None:
                logger.warning("episode %s of environment '%s' kept on disk but not served: this hub does not "
                               "serve that environment", record.episode_id, record.env)
                self._start_refs[record.start_key] += 1  # its start file must stay too
                continue
            try:
                data = path.read_bytes()
                start = starts.get(record.start_key)
                if start is None:
                    start = starts[record.start_key] = self.start_path(record.start_key).read_bytes()
            except FileNotFoundError as err:
                logger.error("episode %s cannot be recovered: %s is missing; dropping its registry entry",
                             record.episode_id, err.filename)
                self._delete(record.episode_id, record.start_key, snapshots_of.get(record.episode_id, []))
                del kept[record.episode_id]
                continue
            conn = connection_from_bytes(data, store.max_episode_bytes)
            problem = schema_problem(runtime, conn)
            if problem is not None:
                conn.close()
                logger.warning("episode %s kept on disk but not served: %s", record.episode_id, problem)
                self._start_refs[record.start_key] += 1
                continue
            episode = Episode(record.episode_id, runtime, conn, start, store.clock, record.seed)
            episode.created_at = self._from_wall(record.created_at)
            episode.last_used = self._from_wall(last_used)
            for snap in sorted(snapshots_of.get(record.episode_id, []), key=lambda s: s.created_at):
                try:
                    episode.snapshots[snap.snapshot_id] = self.snapshot_path(
                        record.episode_id, snap.snapshot_id).read_bytes()
                except FileNotFoundError:
                    logger.error("snapshot %s of episode %s is missing on disk; forgetting it",
                                 snap.snapshot_id, record.episode_id)
                    self._forget_snapshot(record.episode_id, snap.snapshot_id)
            episode.journal = self
            self._saved_changes[episode.id] = conn.total_changes
            self._start_keys[episode.id] = record.start_key
            self._start_refs[record.start_key] += 1
            episodes.append(episode)
        self._sweep_orphans(kept)
        self.recovered = len(episodes)
        if episodes or self.expired_on_start:
            logger.info("recovered %d episode(s) from %s; %d had expired while the hub was down",
                        len(episodes), self.state_dir, self.expired_on_start)
        return episodes

    def _sweep_orphans(self, registered: dict[str, str]) -> None:
        """Files no registry row names: a crash between writing a file and its row, or the reverse."""
        used_starts = set(registered.values())
        for path in (self.state_dir / "episodes").iterdir():
            episode_id = path.name.removesuffix(_SUFFIX)
            if _TEMP_MARK in path.name or episode_id not in registered:
                _remove(path)
        for folder in (self.state_dir / "snapshots").iterdir():
            if not folder.is_dir():
                _remove(folder)
            elif folder.name.removesuffix(_SNAPSHOTS_SUFFIX) not in registered:
                _remove_tree(folder)
            else:
                for path in folder.iterdir():
                    if _TEMP_MARK in path.name:
                        _remove(path)
        for path in (self.state_dir / "starts").iterdir():
            key = path.name.removesuffix(_SUFFIX)
            if _TEMP_MARK in path.name or key not in used_starts:
                _remove(path)

    # -- EpisodeJournal: changes ----------------------------------------------------------------

    def created(self, episode: Episode, source: Episode | None) -> None:
        """A new episode (fresh, or forked from `source`): its start, its file and its row."""
        if source is not None and source.id in self._start_keys:
            key = self._start_keys[source.id]
        else:
            key = _start_key(episode)
        try:
            if self._start_refs[key] == 0 and not self.start_path(key).exists():
                write_atomically(self.start_path(key), episode._start, fsync=self.fsync)
            self._write_episode(episode)
            now = self._wall()
            with Session(self.engine) as session:
                session.add(EpisodeRecord(
                    episode_id=episode.id, owner=self.owner, env=episode.env, seed=episode.seed,
                    start_key=key, created_at=now, last_used=now, expires_at=self._expiry(now),
                    size_bytes=self.episode_path(episode.id).stat().st_size,
                ))
                session.commit()
        except (OSError, SQLAlchemyError) as err:
            _remove(self.episode_path(episode.id))
            raise EpisodeError(f"episode could not be saved to the hub's state folder: {_reason(err)}",
                               status=507) from None
        episode.journal = self
        self._start_keys[episode.id] = key
        self._start_refs[key] += 1

    def touched(self, episode: Episode) -> None:
        """After every use: write the episode's file when its rows changed since the last write."""
        self._used.add(episode.id)
        if episode.conn.total_changes != self._saved_changes.get(episode.id):
            self._save_after_change(episode)

    def replaced(self, episode: Episode) -> None:
        """The episode's contents were swapped wholesale (a snapshot restored): write them."""
        self._used.add(episode.id)
        self._save_after_change(episode)

    def _save_after_change(self, episode: Episode) -> None:
        try:
            self._write_episode(episode)
        except OSError as err:
            # The call that made the change has already happened; refusing later calls would not
            # undo it. Keep serving, say so loudly, and retry on the next use.
            self.write_failures += 1
            logger.error("episode %s changed but could not be saved to %s: %s (will retry on its next use)",
                         episode.id, self.state_dir, _reason(err))

    def _write_episode(self, episode: Episode) -> None:
        changes = episode.conn.total_changes
        write_atomically(self.episode_path(episode.id), episode.conn.serialize(), fsync=self.fsync)
        self._saved_changes[episode.id] = changes

    def snapshot_taken(self, episode: Episode, snapshot_id: str) -> None:
        data = episode.snapshots[snapshot_id]
        try:
            folder = self.snapshot_dir(episode.id)
            folder.mkdir(exist_ok=True)
            write_atomically(self.snapshot_path(episode.id, snapshot_id), data, fsync=self.fsync)
            with Session(self.engine) as session:
                session.add(SnapshotRecord(episode_id=episode.id, snapshot_id=snapshot_id,
                                           created_at=self._wall(), size_bytes=len(data)))
                session.commit()
        except (OSError, SQLAlchemyError) as err:
            episode.snapshots.pop(snapshot_id, None)
            _remove(self.snapshot_path(episode.id, snapshot_id))
            raise EpisodeError(f"snapshot could not be saved to the hub's state folder: {_reason(err)}",
                               status=507) from None

    def dropped(self, episode: Episode, reason: str) -> None:
        """The episode left the store: closed or expired -> deleted; shutdown -> kept as it is."""
        if reason == "shutdown":
            return
        key = self._start_keys.pop(episode.id, None)
        self._saved_changes.pop(episode.id, None)
        self._used.discard(episode.id)
        try:
            self._delete(episode.id, key, None)
        except (OSError, SQLAlchemyError) as err:
            logger.error("episode %s was %s but its saved state could not be deleted: %s",
                         episode.id, reason, _reason(err))
        if key is not None:
            self._start_refs[key] -= 1
            if self._start_refs[key] <= 0:
                del self._start_refs[key]
                _remove(self.start_path(key))

    def _delete(self, episode_id: str, start_key: str | None, snapshots: list[SnapshotRecord] | None) -> None:
        # Row first: a crash after it leaves only orphan files, which the next start sweeps away.
        with Session(self.engine) as session:
            session.exec(delete(SnapshotRecord).where(col(SnapshotRecord.episode_id) == episode_id))
            session.exec(delete(EpisodeRecord).where(col(EpisodeRecord.episode_id) == episode_id))
            session.commit()
        _remove(self.episode_path(episode_id))
        _remove_tree(self.snapshot_dir(episode_id))

    def _forget_snapshot(self, episode_id: str, snapshot_id: str) -> None:
        with Session(self.engine) as session:
            session.exec(delete(SnapshotRecord).where(
                col(SnapshotRecord.episode_id) == episode_id, col(SnapshotRecord.snapshot_id) == snapshot_id))
            session.commit()

    def sweep(self, episodes: Iterable[Episode]) -> None:
        """Flush the idle clocks of episodes used since the last sweep (one transaction)."""
        if not self._used:
            return
        used, self._used = self._used, set()
        moments = [(e.id, self._to_wall(e.last_used)) for e in episodes if e.id in used]
        if not moments:
            return
        try:
            with Session(self.engine) as session:
                for episode_id, moment in moments:
                    session.exec(update(EpisodeRecord).where(col(EpisodeRecord.episode_id) == episode_id)
                                 .values(last_used=moment, expires_at=self._expiry(moment)))
                session.commit()
        except SQLAlchemyError as err:
            self._used |= used
            logger.error("could not record last-use times in the registry: %s", _reason(err))

    def close(self, episodes: Iterable[Episode]) -> None:
        """The hub stops: record every idle clock, release the folder. Episodes stay on disk."""
        episodes = list(episodes)
        for episode in episodes:
            # A failed save is retried here, the last chance before the process ends.
            if episode.conn.total_changes != self._saved_changes.get(episode.id):
                self._save_after_change(episode)
        self._used |= {e.id for e in episodes}
        self.sweep(episodes)
        self.engine.dispose()
        with contextlib.suppress(OSError):
            self._lock_handle.close()

    def describe(self) -> str:
        return f"{self.state_dir} (registry {_safe_url(self.engine)})"


def _lock_exclusively(handle) -> None:
    """Lock an open file for this process, or raise OSError at once if another process holds it.

    The lock goes with the process: a killed hub leaves no stale lock behind.
    """
    if os.name == "nt":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        return
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _lock_waiting(handle) -> None:
    """Lock an open file for this process, waiting while another process holds it."""
    if os.name == "nt":
        import msvcrt

        handle.seek(0)
        while True:
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)  # itself retries for ~10 s
                return
            except OSError:
                continue
    import fcntl

    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)


def _start_key(episode: Episode) -> str:
    """The hex state hash of the database `episode` started from (known for fresh episodes)."""
    known = episode.known_hash()
    if known is None:
        conn = connection_from_bytes(episode._start)
        try:
            known = canonical_state_hash(episode.runtime.read_rows(conn), episode.runtime.spec)
        finally:
            conn.close()
    key = known.removeprefix("sha256:")
    if not _START_KEY.match(key):
        raise EpisodeError(f"episode '{episode.id}': unexpected state hash {known!r}", status=500)
    return key


def _remove_tree(folder: Path) -> None:
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        _remove(path)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror} ({err.filename})" if err.filename else err.strerror
    return f"{type(err).__name__}: {err}"


# ---------------------------------------------------------------------------------------------
# One episode in one file (stdio servers)
# ---------------------------------------------------------------------------------------------


class EpisodeFileError(EpisodeError):
    """An episode file that cannot be used; the message names the file and the reason."""

    status = 409


class EpisodeFile:
    """The journal of a stdio server's one episode: its database lives in `path`.

    A process started with an existing file continues its episode; a missing file is created
    from the initial state. Clients that start one process per call may run several at once
    (parallel tool calls), so a call holds a lock on `<path>.lock` from `begin_call` until
    `touched` after it: in between, the file is re-read if another process wrote it, and after a
    call that changed rows it is written atomically. Calls on one file are thereby serialized
    across processes and none is lost.
    """

    def __init__(self, path: str | Path, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._signature: tuple[int, int, int] | None = None
        self._saved_changes: int | None = None
        self._lock_handle = None

    # -- the cross-process lock of one call -----------------------------------------------------

    def _lock(self) -> None:
        if self._lock_handle is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path.with_name(self.path.name + ".lock"), "a+")  # noqa: SIM115 - closed by _unlock
        except OSError as err:
            raise EpisodeFileError(f"episode file {self.path}: cannot create its lock file: {_reason(err)}") from None
        try:
            _lock_waiting(handle)
        except OSError as err:
            handle.close()
            raise EpisodeFileError(f"episode file {self.path}: cannot lock it: {_reason(err)}") from None
        self._lock_handle = handle

    def _unlock(self) -> None:
        handle, self._lock_handle = self._lock_handle, None
        if handle is not None:
            handle.close()  # closing the file releases its lock

    def begin_call(self, episode: Episode) -> None:
        """Before a call: wait for other processes' calls on this file, then read what they wrote."""
        self._lock()
        try:
            self.refresh(episode)
        except BaseException:
            self._unlock()
            raise

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def recover(self, store: EpisodeStore) -> list[Episode]:
        return []

    def created(self, episode: Episode, source: Episode | None) -> None:
        episode.journal = self
        self._lock()  # two processes starting at once must not both create the file
        try:
            if self.path.exists():
                self._load(episode)
                return
            self._write(episode)
        except OSError as err:
            raise EpisodeFileError(f"episode file {self.path}: cannot be created: {_reason(err)}") from None
        finally:
            self._unlock()

    def refresh(self, episode: Episode) -> None:
        """Re-read the file when another process wrote it since this one last read or wrote it."""
        signature = self._stat()
        if signature is not None and signature != self._signature:
            self._load(episode)

    def _load(self, episode: Episode) -> None:
        try:
            data = self.path.read_bytes()
        except OSError as err:
            raise EpisodeFileError(f"episode file {self.path}: cannot be read: {_reason(err)}") from None
        probe = connection_from_bytes(data)
        try:
            problem = schema_problem(episode.runtime, probe)
        except sqlite3.DatabaseError as err:
            problem = f"not an episode database ({err})"
        finally:
            probe.close()
        if problem is not None:
            raise EpisodeFileError(f"episode file {self.path}: {problem}; use another file for this environment")
        episode.conn.deserialize(data)
        episode.forget_hash()
        self._saved_changes = episode.conn.total_changes
        self._signature = self._stat()

    def _write(self, episode: Episode) -> None:
        changes = episode.conn.total_changes
        write_atomically(self.path, episode.conn.serialize(), fsync=self.fsync)
        self._saved_changes = changes
        self._signature = self._stat()

    def touched(self, episode: Episode) -> None:
        """After a call (and on every lookup): save changed rows, then let other processes in."""
        try:
            if episode.conn.total_changes != self._saved_changes:
                self.replaced(episode)
        finally:
            self._unlock()

    def replaced(self, episode: Episode) -> None:
        try:
            self._write(episode)
        except OSError as err:
            logger.error("episode file %s could not be written: %s (will retry after the next call)",
                         self.path, _reason(err))

    def snapshot_taken(self, episode: Episode, snapshot_id: str) -> None:
        return None  # a stdio episode's snapshots live as long as its process

    def dropped(self, episode: Episode, reason: str) -> None:
        return None  # the file outlives the process: that is its purpose

    def sweep(self, episodes: Iterable[Episode]) -> None:
        return None

    def close(self, episodes: Iterable[Episode]) -> None:
        for episode in episodes:
            self.touched(episode)
