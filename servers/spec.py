"""The EnvSpec: one environment as plain, typed, declarative data.

An EnvSpec says what tables an environment's database has, what tools it offers and what each
tool does to the tables, in a small operation language (get / find / insert / update / delete /
sequence). Nothing in a spec is code: the executor interprets it, so a spec from an untrusted
source can do no more than read and write its own episode's tables.

Everything that can be checked statically is checked here, at load time, so that a spec that
loads is a spec that can be served: tables and columns named by operations exist, arguments
named by operations are declared in the tool's input schema, bindings refer to earlier steps,
seed rows fit their columns and their foreign keys resolve.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    Tag,
    ValidationError,
    model_serializer,
    model_validator,
)

from contracts.formats import ENVSPEC_FORMAT

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
# MCP tool names allow dots and dashes too; table/column names must be safe SQL identifiers.
TOOL_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"
ENV_NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,63}$"

# `json`: any JSON value (an address, a list of items), stored as canonical JSON text.
ColumnType = Literal["string", "integer", "number", "boolean", "enum", "date", "json"]
CompareOp = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "contains"]


class SpecError(ValueError):
    """A spec that cannot be served; the message names the file, the path inside it and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


class _OmitsEmpty(_Strict):
    """A model whose optional fields named in `_omitted_when_empty` are left out of its JSON while
    empty, so specs written before those fields existed serialize byte for byte as they did."""

    _omitted_when_empty: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _omit_unused(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for key in self._omitted_when_empty:
            if not data.get(key):
                data.pop(key, None)
        return data


class Column(_Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    type: ColumnType = "string"
    enum: list[str] | None = None
    nullable: bool = True
    description: str = ""
    # The value an insert of any kind stores when it does not give one (e.g. status "pending").
    default: Any = None

    @model_validator(mode="after")
    def _enum_has_values(self) -> Column:
        if self.type == "enum" and not self.enum:
            raise ValueError(f"column '{self.name}' has type enum but no enum values")
        if self.type != "enum" and self.enum:
            raise ValueError(f"column '{self.name}' lists enum values but has type {self.type}")
        if self.default is not None:
            problem = check_value(self, self.default)
            if problem:
                raise ValueError(f"column '{self.name}': default {self.default!r} does not fit: {problem}")
        return self


class ForeignKey(_Strict):
    column: str
    ref_table: str
    ref_column: str


class Table(_Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str = ""
    primary_key: str
    columns: list[Column]
    foreign_keys: list[ForeignKey] = []
    # Generated primary keys look like f"{id_prefix}{n}" (e.g. "O-1001"); integer keys when None
    # and the key column is an integer.
    id_prefix: str | None = None

    @model_validator(mode="after")
    def _keys_exist(self) -> Table:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table '{self.name}' has duplicate column names")
        if self.primary_key not in names:
            raise ValueError(
                f"table '{self.name}': primary key '{self.primary_key}' is not one of its columns"
            )
        for fk in self.foreign_keys:
            if fk.column not in names:
                raise ValueError(
                    f"table '{self.name}': foreign key column '{fk.column}' is not one of its columns"
                )
        return self

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    @property
    def pk_column(self) -> Column:
        col = self.column(self.primary_key)
        assert col is not None
        return col


# ---------------------------------------------------------------------------------------------
# Values: where an operation takes a value from
# ---------------------------------------------------------------------------------------------


class ArgValue(_Strict):
    """The tool call's argument `arg`; `default` when the caller left it out."""

    arg: str
    default: Any = None


class ConstValue(_Strict):
    const: Any


class RefValue(_Strict):
    """A field of an earlier step's result in a sequence: "step.column" (or "step" for a scalar)."""

    ref: str


class ArithValue(_Strict):
    """Arithmetic over two values, for balances and stock counts (e.g. balance - amount)."""

    op: Literal["add", "sub", "mul"]
    left: Value
    right: Value


Value = Union[ArgValue, ConstValue, RefValue, ArithValue]
ArithValue.model_rebuild()


def value_args(value: Value) -> set[str]:
    """Argument names a value reads."""
    if isinstance(value, ArgValue):
        return {value.arg}
    if isinstance(value, ArithValue):
        return value_args(value.left) | value_args(value.right)
    return set()


def value_refs(value: Value) -> set[str]:
    """Binding names (the part before the dot) a value reads."""
    if isinstance(value, RefValue):
        return {value.ref.split(".", 1)[0]}
    if isinstance(value, ArithValue):
        return value_refs(value.left) | value_refs(value.right)
    return set()


# ---------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------


class Filter(_Strict):
    """`column op value`; skipped when `value` is an optional argument the caller left out."""

    column: str
    op: CompareOp = "eq"
    value: Value


class Precondition(_Strict):
    """A check on the target row before a write; unmet -> a tool error a model can act on.

    `message` may use {table}, {key}, {column}, {actual}, {expected} placeholders.
    """

    column: str
    op: CompareOp = "eq"
    value: Value
    message: str | None = None


class SortKey(_OmitsEmpty):
    """Order by `column` (ascending unless `descending`), or as the call asks:

    `by` is an argument naming the field to sort by ("name", "-name", "name desc", "name:asc",
    "created_at_desc"; `by_columns` maps an API's own values, such as "votes", to columns; a value
    that names no column leaves `column`); `direction` is an argument "asc"/"desc" (or a boolean,
    true = descending) that overrides the direction.
    """

    column: str
    descending: bool = False
    by: Value | None = None
    by_columns: dict[str, str] = {}
    direction: Value | None = None

    # Fixed sort keys serialize as they did before per-call sorting existed.
    _omitted_when_empty: ClassVar[tuple[str, ...]] = ("by", "direction", "by_columns")


class GetOp(_OmitsEmpty):
    kind: Literal["get"]
    table: str
    key: Value
    # Only these columns in the result; all when empty.
    fields: list[str] = []
    # Checks on the row before it is returned: a nested record read under its parent
    # (`GET /orders/{order_id}/items/{item_id}`) must belong to that parent.
    preconditions: list[Precondition] = []

    # A get without checks serializes as it did before gets had them.
    _omitted_when_empty: ClassVar[tuple[str, ...]] = ("preconditions",)


class FindOp(_Strict):
    kind: Literal["find"]
    table: str
    filters: list[Filter] = []
    sort: list[SortKey] = []
    limit: Value | int = 20
    fields: list[str] = []
    # Rows to skip before the first result (an API's offset, or its page number times the limit).
    offset: Value | int | None = None

    @model_serializer(mode="wrap")
    def _omit_unused(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A find without an offset serializes as it did before offsets existed.
        data = handler(self)
        if data.get("offset") is None:
            data.pop("offset", None)
        return data


class InsertOp(_Strict):
    kind: Literal["insert"]
    table: str
    values: dict[str, Value]


class UpdateOp(_Strict):
    kind: Literal["update"]
    table: str
    key: Value
    set: dict[str, Value]
    preconditions: list[Precondition] = []


class DeleteOp(_OmitsEmpty):
    kind: Literal["delete"]
    table: str
    key: Value
    preconditions: list[Precondition] = []
    # A bulk delete (`DELETE /categories` with a body of category ids): `key` is a list of keys,
    # and every row it names is deleted, or none when one of them does not exist.
    many: bool = False

    # A delete of one row serializes as it did before bulk deletes existed.
    _omitted_when_empty: ClassVar[tuple[str, ...]] = ("many",)


SimpleOp = Annotated[Union[GetOp, FindOp, InsertOp, UpdateOp, DeleteOp], Field(discriminator="kind")]


class Step(_Strict):
    bind: Annotated[str, Field(pattern=NAME_PATTERN)]
    op: SimpleOp


class SequenceOp(_Strict):
    """Steps run in order inside one transaction; any failing step rolls all of them back."""

    kind: Literal["sequence"]
    steps: list[Step] = Field(min_length=1)
    # The binding returned as the tool's result; the last step's when None.
    result: str | None = None


# ---------------------------------------------------------------------------------------------
# Programs: parameterised SQL steps over the episode's own tables (docs/operation-language.md)
# ---------------------------------------------------------------------------------------------


class LetStep(_Strict):
    """Bind `:let` to the first column of the query's first row (NULL when it returns no row)."""

    let: Annotated[str, Field(pattern=NAME_PATTERN)]
    query: str


class RequireStep(_Strict):
    """The query's first value must be truthy, else the call fails with `message` and changes nothing."""

    require: str
    message: str


class ExecStep(_Strict):
    """One INSERT, UPDATE or DELETE; optionally a bound on how many rows it must change."""

    exec: str
    expect_changes: int | None = Field(default=None, ge=0)
    min_changes: int | None = Field(default=None, ge=0)
    message: str | None = None


class FailStep(_Strict):
    fail: str


class IfStep(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    if_: str = Field(alias="if")
    then: list[ProgramStep] = []
    else_: list[ProgramStep] = Field(default=[], alias="else")


class ForEachStep(_Strict):
    """Run `steps` once per row of the query, each column `c` bound as `:<as>_<c>`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    for_each: str
    as_: Annotated[str, Field(pattern=NAME_PATTERN, alias="as")]
    steps: list[ProgramStep] = Field(min_length=1)


_STEP_KEYS = {"let": "let", "require": "require", "exec": "exec", "fail": "fail", "if": "if",
              "if_": "if", "for_each": "for_each"}


def _step_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {LetStep: "let", RequireStep: "require", ExecStep: "exec", FailStep: "fail",
                IfStep: "if", ForEachStep: "for_each"}.get(type(value))
    if isinstance(value, dict):
        for key, kind in _STEP_KEYS.items():
            if key in value:
                return kind
    return None


ProgramStep = Annotated[
    Union[
        Annotated[LetStep, Tag("let")],
        Annotated[RequireStep, Tag("require")],
        Annotated[ExecStep, Tag("exec")],
        Annotated[FailStep, Tag("fail")],
        Annotated[IfStep, Tag("if")],
        Annotated[ForEachStep, Tag("for_each")],
    ],
    Discriminator(
        _step_kind,
        custom_error_type="program_step",
        custom_error_message="a program step needs one of: let, require, exec, fail, if, for_each",
    ),
]
IfStep.model_rebuild()
ForEachStep.model_rebuild()


class ProgramResult(_Strict):
    """What the call returns: json = the first column parsed as JSON, row = the first row as an
    object, rows = every row as objects, value = the first column of the first row."""

    query: str
    shape: Literal["json", "row", "rows", "value"] = "json"
    # A missing row/value is an error with this message instead of a null result.
    message: str | None = None


class ProgramOp(_Strict):
    """Steps in one transaction; checked and analysed when the EnvSpec loads (servers.program)."""

    kind: Literal["program"]
    steps: list[ProgramStep] = []
    result: ProgramResult | None = None
    # servers.program.ProgramAnalysis, attached by the load-time check.
    _analysis: Any = PrivateAttr(default=None)

    def has_exec(self) -> bool:
        def walk(steps: list) -> bool:
            for step in steps:
                if isinstance(step, ExecStep):
                    return True
                if isinstance(step, IfStep) and (walk(step.then) or walk(step.else_)):
                    return True
                if isinstance(step, ForEachStep) and walk(step.steps):
                    return True
            return False

        return walk(self.steps)


Operation = Annotated[
    Union[GetOp, FindOp, InsertOp, UpdateOp, DeleteOp, SequenceOp, ProgramOp], Field(discriminator="kind")
]


# ---------------------------------------------------------------------------------------------
# Tools, seed, environment
# ---------------------------------------------------------------------------------------------


class ToolAnnotations(_Strict):
    """MCP tool annotations, with the wire (camelCase) names."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    title: str | None = None
    readOnlyHint: bool | None = None
    destructiveHint: bool | None = None
    idempotentHint: bool | None = None
    openWorldHint: bool | None = False


class ToolSpec(_Strict):
    name: Annotated[str, Field(pattern=TOOL_NAME_PATTERN)]
    description: str
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    output_schema: dict[str, Any] | None = None
    annotations: ToolAnnotations = ToolAnnotations()
    operation: Operation

    @model_validator(mode="after")
    def _schema_is_object(self) -> ToolSpec:
        if self.input_schema.get("type") != "object":
            raise ValueError(f"tool '{self.name}': input_schema must have type 'object'")
        props = self.input_schema.get("properties", {})
        if not isinstance(props, dict):
            raise ValueError(f"tool '{self.name}': input_schema.properties must be an object")
        for req in self.input_schema.get("required", []):
            if req not in props:
                raise ValueError(f"tool '{self.name}': required argument '{req}' is not in properties")
        return self

    @property
    def read_only(self) -> bool:
        from servers.semantics import read_only  # servers.semantics imports this module

        return read_only(self.operation)


class SeedGenerator(_Strict):
    """A seeded description of generated rows: `rows[table]` rows per table, deterministic in `seed`."""

    seed: int = 0
    rows: dict[str, int] = {}


class Seed(_Strict):
    """The initial state: explicit rows, then generated ones (if any) on top."""

    rows: dict[str, list[dict[str, Any]]] = {}
    generate: SeedGenerator | None = None


class ToolDependency(_Strict):
    """`source`'s output provides `target`'s input argument `argument` (column `column`)."""

    source: str
    target: str
    argument: str
    column: str | None = None


class EnvSpec(_Strict):
    format: Literal[ENVSPEC_FORMAT] = ENVSPEC_FORMAT
    name: Annotated[str, Field(pattern=ENV_NAME_PATTERN)]
    description: str = ""
    domain: str = ""
    source: list[str] = []
    tables: list[Table]
    tools: list[ToolSpec]
    seed: Seed = Seed()
    dependencies: list[ToolDependency] = []
    # The episode clock programs read as :now / :today (ISO-8601); fixed so that replays hash alike.
    clock: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}:\d{2})?$")

    # -- lookups ---------------------------------------------------------------------------------

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def tool(self, name: str) -> ToolSpec:
        for t in self.tools:
            if t.name == name:
                return t
        raise KeyError(name)

    # -- cross-reference checks ------------------------------------------------------------------

    @model_validator(mode="after")
    def _cross_references(self) -> EnvSpec:
        tables = {t.name: t for t in self.tables}
        if len(tables) != len(self.tables):
            raise ValueError("duplicate table names")
        if len({t.name for t in self.tools}) != len(self.tools):
            raise ValueError("duplicate tool names")
        for t in self.tables:
            for fk in t.foreign_keys:
                ref = tables.get(fk.ref_table)
                if ref is None:
                    raise ValueError(f"table '{t.name}': foreign key to unknown table '{fk.ref_table}'")
                if ref.column(fk.ref_column) is None:
                    raise ValueError(
                        f"table '{t.name}': foreign key to unknown column '{fk.ref_table}.{fk.ref_column}'"
                    )
        for i, tool in enumerate(self.tools):
            _check_operation(tool, tables, where=f"tools.{i} ('{tool.name}')")
        for table_name, rows in self.seed.rows.items():
            table = tables.get(table_name)
            if table is None:
                raise ValueError(f"seed.rows: unknown table '{table_name}'")
            for j, row in enumerate(rows):
                _check_row(table, row, where=f"seed.rows.{table_name}.{j}")
        if self.seed.generate:
            for table_name in self.seed.generate.rows:
                if table_name not in tables:
                    raise ValueError(f"seed.generate.rows: unknown table '{table_name}'")
        _check_seed_integrity(self)
        tool_names = {t.name for t in self.tools}
        for d in self.dependencies:
            for end in (d.source, d.target):
                if end not in tool_names:
                    raise ValueError(f"dependencies: unknown tool '{end}'")
        return self


def _check_operation(tool: ToolSpec, tables: dict[str, Table], where: str) -> None:
    if isinstance(tool.operation, ProgramOp):
        from servers.program import check_program  # servers.program builds on this module

        check_program(tool, tables, where=f"{where}.operation")
        return

    # servers.semantics reads the operation classes defined above, so it is imported here.
    from servers.semantics import steps

    declared = set(tool.input_schema.get("properties", {}))
    bound: set[str] = set()
    op = tool.operation
    for step in steps(op):
        table = tables.get(step.table)
        if table is None:
            raise ValueError(f"{where}: operation uses unknown table '{step.table}'")
        if table.primary_key in step.updated_columns:
            raise ValueError(f"{where}: update may not change the primary key '{table.primary_key}'")
        for c in step.columns:
            if table.column(c) is None:
                raise ValueError(f"{where}: operation uses unknown column '{step.table}.{c}'")
        for read in step.reads:
            missing_args = value_args(read.value) - declared
            if missing_args:
                raise ValueError(
                    f"{where}: operation reads argument(s) {sorted(missing_args)} "
                    "that the input_schema does not declare"
                )
            missing_refs = value_refs(read.value) - bound
            if missing_refs:
                raise ValueError(f"{where}: operation refers to unbound step(s) {sorted(missing_refs)}")
        if step.bind is not None:
            if step.bind in bound:
                raise ValueError(f"{where}: step name '{step.bind}' is bound twice")
            bound.add(step.bind)
    if isinstance(op, SequenceOp) and op.result is not None and op.result not in bound:
        raise ValueError(f"{where}: sequence result '{op.result}' is not a step name")


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _is_json(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def check_value(column: Column, value: Any) -> str | None:
    """Why `value` does not fit `column`, or None when it does."""
    if value is None:
        return None if column.nullable else f"'{column.name}' may not be null"
    t = column.type
    ok = (
        (t == "string" and isinstance(value, str))
        or (t == "integer" and isinstance(value, int) and not isinstance(value, bool))
        or (t == "number" and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (t == "boolean" and isinstance(value, bool))
        or (t == "enum" and isinstance(value, str) and value in (column.enum or []))
        or (t == "date" and isinstance(value, str) and bool(_DATE.match(value)))
        or (t == "json" and _is_json(value))
    )
    if ok:
        return None
    if t == "enum":
        return f"'{column.name}' must be one of {column.enum}, got {value!r}"
    return f"'{column.name}' must be a {t}, got {value!r}"


def _check_row(table: Table, row: dict[str, Any], where: str) -> None:
    for key, value in row.items():
        col = table.column(key)
        if col is None:
            raise ValueError(f"{where}: unknown column '{table.name}.{key}'")
        problem = check_value(col, value)
        if problem:
            raise ValueError(f"{where}: {problem}")
    if row.get(table.primary_key) is None:
        raise ValueError(f"{where}: missing primary key '{table.primary_key}'")


def _check_seed_integrity(spec: EnvSpec) -> None:
    keys = {
        name: {row.get(spec.table(name).primary_key) for row in rows}
        for name, rows in spec.seed.rows.items()
    }
    for name, rows in spec.seed.rows.items():
        table = spec.table(name)
        if len(keys[name]) != len(rows):
            raise ValueError(f"seed.rows.{name}: duplicate primary keys")
        for fk in table.foreign_keys:
            ref_keys = keys.get(fk.ref_table, set())
            ref_table = spec.table(fk.ref_table)
            if fk.ref_column != ref_table.primary_key:
                continue
            for j, row in enumerate(rows):
                value = row.get(fk.column)
                if value is not None and value not in ref_keys:
                    raise ValueError(
                        f"seed.rows.{name}.{j}: '{fk.column}'={value!r} has no row in '{fk.ref_table}'"
                    )


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def _format_validation_error(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
    # Cross-reference problems carry their own path inside the message.
    return f"{loc}: {msg}{more}" if loc else f"{msg}{more}"


def parse_envspec(data: Any, origin: str = "<spec>") -> EnvSpec:
    """Validate already-parsed JSON; raise SpecError naming `origin`, the path and the problem."""
    if isinstance(data, dict) and data.get("format", ENVSPEC_FORMAT) != ENVSPEC_FORMAT:
        raise SpecError(
            f"{origin}: format: unsupported format {data.get('format')!r}, expected '{ENVSPEC_FORMAT}'"
        )
    try:
        return EnvSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(f"{origin}: {_format_validation_error(err)}") from None


def load_envspec(path: str | Path) -> EnvSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SpecError(f"{path}: not valid JSON: line {err.lineno} column {err.colno}: {err.msg}") from None
    return parse_envspec(data, origin=str(path))


def dump_envspec(spec: EnvSpec, path: str | Path) -> None:
    Path(path).write_text(spec.model_dump_json(indent=1, exclude_defaults=False) + "\n", encoding="utf-8")
