"""The `program` operation: parameterised SQL steps and checks over the episode's own tables.

A program is data: SQL text with `:name` parameters, never Python. Every statement it contains
is prepared when the EnvSpec loads, against an empty database with the environment's tables,
under the same SQLite authorizer that guards it at run time. The authorizer lets a statement
read only the environment's tables (and the `json_each`/`json_tree` table functions), lets only
`exec` steps write them, and refuses everything else: other tables (sqlite_master), ATTACH,
PRAGMA, schema changes, transaction control, and any function not on `ALLOWED_FUNCTIONS`
(so no `load_extension`, no `random()`). Load-time preparation also catches syntax errors,
unknown columns and parameters no earlier step binds, and derives which tables a program reads
and writes (`program_reads` / `program_writes`).

At run time the steps run in the executor's transaction: a failed `require`, a `fail`, an `exec`
that changed the wrong number of rows or any SQLite error rolls the whole call back.
The reference with examples is docs/operation-language.md.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from servers import sqlfunctions
from servers.spec import (
    ExecStep,
    FailStep,
    ForEachStep,
    IfStep,
    LetStep,
    ProgramOp,
    ProgramResult,
    RequireStep,
    Table,
    ToolSpec,
)
from servers.sqlguard import PROGRAM_MARK
from servers.state import CACHED_STATEMENTS, canonical_json, quote, sql_literal

if TYPE_CHECKING:
    from servers.state import EnvRuntime

RESERVED_PARAMS = frozenset({"now", "today"})
DEFAULT_CLOCK = "2025-01-01T12:00:00"
TABLE_FUNCTIONS = frozenset({"json_each", "json_tree"})
MAX_LOOP_ROWS = 10_000
# The progress handler runs every PROGRESS_INTERVAL virtual-machine instructions; a call may use
# PROGRESS_BUDGET of them (a few hundred milliseconds of work) before it is stopped as runaway.
PROGRESS_INTERVAL = 1_000
PROGRESS_BUDGET = 20_000

ALLOWED_FUNCTIONS = frozenset({
    # core scalar
    "abs", "char", "coalesce", "glob", "hex", "ifnull", "iif", "instr", "length", "like", "likelihood",
    "likely", "lower", "ltrim", "max", "min", "nullif", "printf", "format", "quote", "replace", "round",
    "rtrim", "sign", "substr", "substring", "trim", "typeof", "unicode", "unlikely", "upper", "unhex",
    "concat", "concat_ws", "octet_length",
    # aggregate and window
    "avg", "count", "group_concat", "string_agg", "sum", "total", "row_number", "rank", "dense_rank",
    "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value", "last_value", "nth_value",
    # date and time (deterministic on explicit arguments; programs pass :now, never 'now')
    "date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff",
    # json
    "json", "json_array", "json_array_length", "json_extract", "json_insert", "json_object", "json_patch",
    "json_remove", "json_replace", "json_set", "json_type", "json_valid", "json_quote", "json_group_array",
    "json_group_object", "json_each", "json_tree", "json_pretty", "->", "->>",
    # math
    "acos", "asin", "atan", "atan2", "ceil", "ceiling", "cos", "degrees", "exp", "floor", "ln", "log",
    "log10", "log2", "mod", "pi", "pow", "power", "radians", "sin", "sqrt", "tan", "trunc",
    # registered by envhub (servers/sqlfunctions.py)
    *sqlfunctions.FUNCTIONS,
})

_PARAM = re.compile(r"[:@$]([A-Za-z_][A-Za-z0-9_]*)")
_LITERAL_OR_COMMENT = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*.*?\*/", re.S)
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WRITE_START = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|WITH)\b", re.I)
_DENY_WORDS = {
    sqlite3.SQLITE_ATTACH: "ATTACH", sqlite3.SQLITE_DETACH: "DETACH", sqlite3.SQLITE_PRAGMA: "PRAGMA",
    sqlite3.SQLITE_TRANSACTION: "transaction control", sqlite3.SQLITE_SAVEPOINT: "transaction control",
    sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE", sqlite3.SQLITE_REINDEX: "REINDEX", sqlite3.SQLITE_ANALYZE: "ANALYZE",
}
_WRITE_ACTIONS = {sqlite3.SQLITE_INSERT: "insert", sqlite3.SQLITE_UPDATE: "update", sqlite3.SQLITE_DELETE: "delete"}


class ProgramError(Exception):
    """A program step refused the call; the message is for the model, the transaction rolls back."""


# ---------------------------------------------------------------------------------------------
# The authorizer
# ---------------------------------------------------------------------------------------------


class _Authorizer:
    """The sqlite3 authorizer of a program's statements; remembers what it saw and why it denied."""

    __slots__ = ("tables", "allow_write", "reads", "writes", "write_kinds", "denied")

    def __init__(self, tables: Iterable[str], allow_write: bool) -> None:
        self.tables = frozenset(tables)
        self.allow_write = allow_write
        self.reads: set[str] = set()
        self.writes: set[str] = set()
        self.write_kinds: set[str] = set()
        self.denied: str | None = None

    def _deny(self, why: str) -> int:
        if self.denied is None:
            self.denied = why
        return sqlite3.SQLITE_DENY

    def __call__(self, action: int, arg1: str | None, arg2: str | None, db: str | None, _source: str | None) -> int:
        if action == sqlite3.SQLITE_SELECT or action == sqlite3.SQLITE_RECURSIVE:
            return sqlite3.SQLITE_OK
        if arg1 == "sqlite_master" and (
            (action == sqlite3.SQLITE_UPDATE) or (action == sqlite3.SQLITE_READ and arg2 == "ROWID")
        ):
            # SQLite itself declares json_each/json_tree on a connection's first use of them, which
            # reaches the authorizer as these two actions. Neither can be abused: SQLite refuses
            # every UPDATE of sqlite_master (writable_schema needs PRAGMA, which is denied), and a
            # rowid says nothing.
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            if arg1 in TABLE_FUNCTIONS or db is None:  # no database: a CTE or subquery of the statement
                return sqlite3.SQLITE_OK
            if arg1 in self.tables and db == "main":
                self.reads.add(arg1)
                return sqlite3.SQLITE_OK
            return self._deny(f"reads '{arg1}', which is not a table of this environment")
        if action == sqlite3.SQLITE_FUNCTION:
            if arg2 is not None and arg2.lower() in ALLOWED_FUNCTIONS:
                return sqlite3.SQLITE_OK
            return self._deny(f"calls function '{arg2}', which programs may not use")
        if action in _WRITE_ACTIONS:
            if arg1 not in self.tables or db != "main":
                return self._deny(f"writes '{arg1}', which is not a table of this environment")
            if not self.allow_write:
                return self._deny(f"writes table '{arg1}' outside an exec step (only exec steps write)")
            self.writes.add(arg1)
            self.write_kinds.add(_WRITE_ACTIONS[action])
            return sqlite3.SQLITE_OK
        word = _DENY_WORDS.get(action)
        if word is not None:
            return self._deny(f"uses {word}, which programs may not use")
        return self._deny("changes the schema or uses a statement programs may not use")


# ---------------------------------------------------------------------------------------------
# Load-time checks and analysis
# ---------------------------------------------------------------------------------------------


@dataclass
class ProgramAnalysis:
    """What a program touches, derived from the authorizer while its statements were prepared."""

    reads: frozenset[str]
    writes: frozenset[str]
    write_kinds: frozenset[str]
    # Every name a step may bind (lets and loop variables): bound to NULL before the first step.
    bound_names: frozenset[str]


@dataclass
class _Checker:
    conn: sqlite3.Connection
    tables: frozenset[str]
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    write_kinds: set[str] = field(default_factory=set)
    bound: set[str] = field(default_factory=set)
    lets: set[str] = field(default_factory=set)

    def prepare(self, sql: str, known: set[str], where: str, *, write: bool, run: bool = False) -> list[str]:
        """Prepare `sql` under the authorizer; the result column names when `run`."""
        if not isinstance(sql, str) or not sql.strip():
            raise ValueError(f"{where}: empty SQL statement")
        stripped = _LITERAL_OR_COMMENT.sub(" ", sql)
        if "?" in stripped:
            raise ValueError(f"{where}: positional '?' parameters are not allowed; use :name")
        params = set(_PARAM.findall(stripped))
        unknown = sorted(params - known)
        if unknown:
            raise ValueError(
                f"{where}: unknown parameter(s) {', '.join(':' + u for u in unknown)} "
                "(not an argument of the tool, :now/:today, or a name bound by an earlier step)"
            )
        if write and not _WRITE_START.match(sql):
            raise ValueError(f"{where}: an exec step must be one INSERT, UPDATE or DELETE statement")
        auth = _Authorizer(self.tables, allow_write=write)
        self.conn.set_authorizer(auth)
        self.conn.set_progress_handler(_budget_handler(), PROGRESS_INTERVAL)
        try:
            cur = self.conn.execute(sql if run else "EXPLAIN " + sql, dict.fromkeys(params))
            columns = [d[0] for d in cur.description or []] if run else []
        except (sqlite3.Error, sqlite3.Warning) as err:
            problem = auth.denied or str(err)
            raise ValueError(f"{where}: {problem}") from None
        finally:
            self.conn.set_authorizer(None)
            self.conn.set_progress_handler(None, PROGRESS_INTERVAL)
        if write and not auth.writes:
            raise ValueError(f"{where}: an exec step must write a table (INSERT, UPDATE or DELETE)")
        self.reads |= auth.reads
        self.writes |= auth.writes
        self.write_kinds |= auth.write_kinds
        return columns

    def message(self, text: str, known: set[str], where: str) -> None:
        unknown = sorted(set(_PLACEHOLDER.findall(text)) - known)
        if unknown:
            raise ValueError(f"{where}: message names unknown value(s) {', '.join('{' + u + '}' for u in unknown)}")

    def bind(self, name: str, known: set[str], where: str, *, rebind: bool = False) -> None:
        """A `let` may bind a name an earlier `let` bound (an accumulator in a loop); arguments,
        reserved names and loop variables are never rebound."""
        if name in known and not (rebind and name in self.lets):
            raise ValueError(f"{where}: '{name}' is already an argument, a reserved name or a loop variable")
        known.add(name)
        self.bound.add(name)
        if rebind:
            self.lets.add(name)

    def steps(self, steps: list, known: set[str], where: str) -> None:
        for i, step in enumerate(steps):
            at = f"{where}.{i}"
            if isinstance(step, LetStep):
                self.prepare(step.query, known, f"{at}.query", write=False)
                self.bind(step.let, known, f"{at}.let", rebind=True)
            elif isinstance(step, RequireStep):
                self.prepare(step.require, known, f"{at}.require", write=False)
                self.message(step.message, known, f"{at}.message")
            elif isinstance(step, ExecStep):
                self.prepare(step.exec, known, f"{at}.exec", write=True)
                if step.message is not None:
                    self.message(step.message, known, f"{at}.message")
            elif isinstance(step, FailStep):
                self.message(step.fail, known, f"{at}.fail")
            elif isinstance(step, IfStep):
                self.prepare(step.if_, known, f"{at}.if", write=False)
                then_known, else_known = set(known), set(known)
                self.steps(step.then, then_known, f"{at}.then")
                self.steps(step.else_, else_known, f"{at}.else")
                # A name bound in either branch is known afterwards (NULL when its branch did not run).
                known |= then_known | else_known
            elif isinstance(step, ForEachStep):
                columns = self.prepare(step.for_each, known, f"{at}.for_each", write=False, run=True)
                inner = set(known)
                for column in columns:
                    name = f"{step.as_}_{column}"
                    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                        raise ValueError(f"{at}.for_each: result column {column!r} needs a plain name (use AS)")
                    self.bind(name, inner, f"{at}.as")
                self.steps(step.steps, inner, f"{at}.steps")
                known |= inner
            else:  # pragma: no cover - the spec's discriminator admits nothing else
                raise ValueError(f"{at}: unknown step")


def _ddl(tables: Iterable[Table]) -> tuple[str, ...]:
    from servers.state import _SQL_TYPES

    out = []
    for t in tables:
        cols = [
            f"{quote(c.name)} {_SQL_TYPES[c.type]}"
            + (f" DEFAULT {sql_literal(c, c.default)}" if c.default is not None else "")
            for c in t.columns
        ]
        out.append(f"CREATE TABLE {quote(t.name)} ({', '.join(cols)}, PRIMARY KEY ({quote(t.primary_key)}))")
    return tuple(out)


_VALIDATION_LOCK = threading.Lock()


@functools.lru_cache(maxsize=16)
def _validation_db(ddl: tuple[str, ...]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    sqlfunctions.install(conn)
    for statement in ddl:
        conn.execute(statement)
    conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # load the schema before any authorizer is set
    return conn


def check_program(tool: ToolSpec, tables: dict[str, Table], where: str) -> None:
    """Validate `tool`'s program against `tables`; ValueError naming the step path on a problem.
    On success the analysis (tables read and written) is attached to the operation."""
    op = tool.operation
    assert isinstance(op, ProgramOp)
    known = set(tool.input_schema.get("properties", {}))
    clash = sorted(known & RESERVED_PARAMS)
    if clash:
        raise ValueError(f"{where}: argument name(s) {clash} are reserved for the episode clock")
    known |= RESERVED_PARAMS
    with _VALIDATION_LOCK:
        checker = _Checker(_validation_db(_ddl(tables.values())), frozenset(tables))
        checker.steps(op.steps, known, f"{where}.steps")
        if op.result is not None:
            checker.prepare(op.result.query, known, f"{where}.result.query", write=False)
            if op.result.message is not None:
                checker.message(op.result.message, known, f"{where}.result.message")
    op._analysis = ProgramAnalysis(
        reads=frozenset(checker.reads), writes=frozenset(checker.writes),
        write_kinds=frozenset(checker.write_kinds), bound_names=frozenset(checker.bound),
    )


def analysis(op: ProgramOp) -> ProgramAnalysis:
    found = op._analysis
    if found is None:
        raise ValueError("this program was not checked: load it as part of an EnvSpec")
    return found


def program_reads(op: ProgramOp) -> set[str]:
    """Tables the program's statements read (derived when the EnvSpec loaded)."""
    return set(analysis(op).reads)


def program_writes(op: ProgramOp) -> set[str]:
    """Tables the program's exec steps insert into, update or delete from."""
    return set(analysis(op).writes)


def program_deletes(op: ProgramOp) -> bool:
    return "delete" in analysis(op).write_kinds


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def _budget_handler():
    left = [PROGRESS_BUDGET]

    def handler() -> int:
        left[0] -= 1
        return 1 if left[0] <= 0 else 0

    return handler


def _sql_param(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, dict)):
        return canonical_json(value)
    return value


def _truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value not in ("", "0")
    return bool(value)


def _display(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


_RUNTIME_AUTH: weakref.WeakKeyDictionary[Any, _Authorizer] = weakref.WeakKeyDictionary()


def _runtime_authorizer(runtime: EnvRuntime) -> _Authorizer:
    auth = _RUNTIME_AUTH.get(runtime)
    if auth is None:
        auth = _RUNTIME_AUTH[runtime] = _Authorizer(runtime.tables, allow_write=True)
    auth.denied = None
    return auth


class _Run:
    __slots__ = ("conn", "params", "shown", "auth", "tool")

    def __init__(self, conn: sqlite3.Connection, params: dict, shown: dict, auth: _Authorizer, tool: str) -> None:
        self.conn = conn
        self.params = params
        self.shown = shown
        self.auth = auth
        self.tool = tool

    def execute(self, sql: str) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql + PROGRAM_MARK, self.params)
        except sqlite3.Error as err:
            if self.auth.denied:
                raise ProgramError(f"tool '{self.tool}' was refused: its statement {self.auth.denied}; "
                                   "nothing was changed") from None
            if str(err) == "interrupted":
                raise ProgramError(f"tool '{self.tool}' stopped: it exceeded the work limit of one call; "
                                   "nothing was changed") from None
            raise ProgramError(f"tool '{self.tool}' failed: {err}; nothing was changed") from None

    def first(self, sql: str) -> Any:
        row = self.execute(sql).fetchone()
        return None if row is None else row[0]

    def message(self, text: str) -> str:
        def sub(match: re.Match) -> str:
            name = match.group(1)
            if name in self.shown:
                return _display(self.shown[name])
            return _display(self.params.get(name))

        return _PLACEHOLDER.sub(sub, text)

    def steps(self, steps: list) -> None:
        params = self.params
        for step in steps:
            if isinstance(step, LetStep):
                params[step.let] = self.first(step.query)
            elif isinstance(step, RequireStep):
                if not _truthy(self.first(step.require)):
                    raise ProgramError(self.message(step.message))
            elif isinstance(step, ExecStep):
                changed = self.execute(step.exec).rowcount
                if (step.expect_changes is not None and changed != step.expect_changes) or (
                    step.min_changes is not None and changed < step.min_changes
                ):
                    wanted = (f"exactly {step.expect_changes}" if step.expect_changes is not None
                              else f"at least {step.min_changes}")
                    raise ProgramError(self.message(step.message) if step.message else
                                       f"tool '{self.tool}' changed {changed} row(s) where {wanted} were expected; "
                                       "nothing was changed")
            elif isinstance(step, FailStep):
                raise ProgramError(self.message(step.fail))
            elif isinstance(step, IfStep):
                self.steps(step.then if _truthy(self.first(step.if_)) else step.else_)
            elif isinstance(step, ForEachStep):
                cur = self.execute(step.for_each)
                names = [f"{step.as_}_{d[0]}" for d in cur.description or []]
                rows = cur.fetchmany(MAX_LOOP_ROWS + 1)
                if len(rows) > MAX_LOOP_ROWS:
                    raise ProgramError(f"tool '{self.tool}' would loop over more than {MAX_LOOP_ROWS} rows; "
                                       "nothing was changed")
                for row in rows:
                    params.update(zip(names, row, strict=True))
                    self.steps(step.steps)

    def result(self, result: ProgramResult | None) -> Any:
        if result is None:
            return {"ok": True}
        cur = self.execute(result.query)
        if result.shape == "rows":
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        row = cur.fetchone()
        if row is None or (result.shape != "row" and row[0] is None):
            if result.message:
                raise ProgramError(self.message(result.message))
            return None
        if result.shape == "row":
            names = [d[0] for d in cur.description or []]
            return dict(zip(names, row, strict=True))
        if result.shape == "value":
            return row[0]
        value = row[0]
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value


def clock_params(runtime: EnvRuntime) -> tuple[str, str]:
    now = (runtime.spec.clock or DEFAULT_CLOCK).replace(" ", "T")
    if len(now) == 10:
        now += "T00:00:00"
    return now, now[:10]


def run_program(runtime: EnvRuntime, conn: sqlite3.Connection, tool: ToolSpec, arguments: dict) -> Any:
    """Run `tool`'s program inside the caller's open transaction; ProgramError when it refuses."""
    op = tool.operation
    assert isinstance(op, ProgramOp)
    props = tool.input_schema.get("properties", {})
    params: dict[str, Any] = dict.fromkeys(analysis(op).bound_names)
    for name, prop in props.items():
        if name in arguments:
            params[name] = _sql_param(arguments[name])
        elif isinstance(prop, dict) and "default" in prop:
            params[name] = _sql_param(prop["default"])
        else:
            params[name] = None
    params["now"], params["today"] = clock_params(runtime)
    auth = _runtime_authorizer(runtime)
    guard = getattr(conn, "guard", None)
    if guard is not None:
        guard.policy = auth
    else:  # a connection envhub did not open: install the policy for this call (re-prepares)
        conn.set_authorizer(auth)
    conn.set_progress_handler(_budget_handler(), PROGRESS_INTERVAL)
    try:
        run = _Run(conn, params, arguments, auth, tool.name)
        run.steps(op.steps)
        return run.result(op.result)
    finally:
        if guard is not None:
            guard.policy = None
        else:
            conn.set_authorizer(None)
        conn.set_progress_handler(None, PROGRESS_INTERVAL)


__all__ = [
    "ALLOWED_FUNCTIONS", "CACHED_STATEMENTS", "ProgramAnalysis", "ProgramError", "check_program",
    "program_deletes", "program_reads", "program_writes", "run_program",
]
