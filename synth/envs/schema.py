"""Entity and table inference: from a domain's tool shapes to typed tables with keys and FKs.

Each entity a tool acts on becomes a table named after its plural (`order` -> `orders`) with a
primary key `<entity>_id`. Columns come from the response schemas (`returns`), from the data
parameters of writes and the filters of reads; their types and enums come from those JSON
Schemas. A column `<other>_id` naming another entity of the domain (or a path parent:
`/orders/{orderId}/items`) becomes a foreign key. String keys get an `id_prefix` so generated
ids read like `ORD-1001`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from servers.seedvalues import range_in_text
from synth.envs.names import identifier, plural_phrase, singular
from synth.envs.shapes import DIAGNOSTIC_ARRAYS, ToolShape, is_control_param, list_item

MAX_COLUMNS = 24
MAX_ENUM = 40
_SCALAR_TYPES = {"string", "integer", "number", "boolean"}
_WRAPPER_KEYS = ("data", "items", "results", "result", "records", "entries", "list", "values", "content")
# Fields of a list response's envelope, never of the records it carries: `{clients: [...],
# nextPageToken}` lists clients, and `next_page_token` is no column of a client.
_ENVELOPE_FIELDS = frozenset({
    "next_page_token", "next_token", "next_link", "next_marker", "marker", "next_page", "next_cursor", "cursor",
    "page_token", "page", "page_size", "per_page", "offset", "limit", "total", "total_count", "total_size",
    "total_items", "total_pages", "count", "kind", "etag", "self_link", "has_more", "more", "request_id",
    "is_truncated", "truncated", "max_results", "max_items", "unreachable", "next", "previous", "prev",
    "odata_next_link", "odata_count", "odata_context", "next_link_url",
}) | DIAGNOSTIC_ARRAYS


@dataclass
class ColumnDraft:
    name: str
    type: str = "string"
    enum: list[str] | None = None
    description: str = ""
    nullable: bool = True
    # The API's declared `default` for the property: what an insert stores when it gives none.
    default: Any = None


@dataclass
class TableDraft:
    entity: str
    name: str
    primary_key: str
    columns: dict[str, ColumnDraft] = field(default_factory=dict)
    # column -> referenced entity
    foreign_keys: dict[str, str] = field(default_factory=dict)
    key_integer: bool | None = None
    id_prefix: str | None = None

    def add(self, column: ColumnDraft, *, force: bool = False) -> str | None:
        """Add or merge a column; the column's name, or None when the table is full.

        `force` is for columns an operation cannot work without (status, counters).
        """
        have = self.columns.get(column.name)
        if have is None:
            if len(self.columns) >= MAX_COLUMNS and not force and column.name != self.primary_key:
                return None
            self.columns[column.name] = column
            return column.name
        _merge(have, column)
        return have.name

    def label_column(self) -> str | None:
        """The column people search by: name, title, ... or the first plain string column."""
        for preferred in ("name", "title", "display_name", "full_name", "label", "subject", "summary"):
            col = self.columns.get(preferred)
            if col is not None and col.type == "string":
                return preferred
        for col in self.columns.values():
            if col.type == "string" and col.name != self.primary_key and col.name not in self.foreign_keys:
                return col.name
        return None


def _merge(have: ColumnDraft, new: ColumnDraft) -> None:
    if not have.description and new.description:
        have.description = new.description
    if have.default is None and new.default is not None:
        have.default = new.default
    if have.type == new.type == "enum":
        merged = list(dict.fromkeys((have.enum or []) + (new.enum or [])))
        have.enum = merged[:MAX_ENUM]
    elif have.type != new.type:
        numeric = {have.type, new.type} <= {"integer", "number"}
        if numeric:
            have.type = "number"
        elif {have.type, new.type} == {"enum", "string"}:
            # A free-text source does not undo an enum another source declares.
            have.type = "enum"
            have.enum = have.enum or new.enum
        else:
            have.type, have.enum = "string", None


def column_type(schema: dict[str, Any]) -> tuple[str, list[str] | None] | None:
    """(type, enum) for a scalar JSON Schema; None for objects, arrays and unknown shapes."""
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum) and t in (None, "string"):
        values = [v for v in dict.fromkeys(enum) if v][:MAX_ENUM]
        if values:
            return "enum", values
    if t is None:
        if "properties" in schema or "items" in schema:
            return None
        t = "string"
    if t not in _SCALAR_TYPES:
        return None
    if t == "string" and schema.get("format") in ("date", "date-time"):
        return "date", None
    return t, None


def _record_schema(returns: dict[str, Any] | None, listing: bool = False) -> dict[str, Any] | None:
    """The schema of one record in a response: unwrap arrays and `{data: [...]}` style wrappers.

    `listing`: the operation lists records, so a wrapper that is an array of records carries
    them whatever else the envelope holds (`{entries: [...], startTime, endTime, log, ...}`)."""
    schema = returns
    for _ in range(3):
        if not isinstance(schema, dict):
            return None
        if schema.get("type") == "array" or "items" in schema and "properties" not in schema:
            schema = schema.get("items")
            continue
        props = schema.get("properties")
        if not isinstance(props, dict):
            return None
        wrapped = [k for k in _WRAPPER_KEYS if isinstance(props.get(k), dict)
                   and (props[k].get("type") in ("array", "object") or "properties" in props[k] or "items" in props[k])]
        scalar_count = sum(1 for v in props.values() if isinstance(v, dict) and column_type(v) is not None)
        if wrapped and (scalar_count <= 3 or listing and _records_array(props[wrapped[0]])):
            schema = props[wrapped[0]]
            continue
        listed = _listed_records(schema)
        if listed is not None:
            schema = listed
            continue
        return schema
    return schema if isinstance(schema, dict) else None


def _records_array(schema: dict[str, Any]) -> bool:
    items = schema.get("items") if schema.get("type") == "array" or "items" in schema else None
    return isinstance(items, dict) and isinstance(items.get("properties"), dict) and bool(items["properties"])


def _listed_records(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The record schema of a list envelope: the items of its one array (`list_item`), when they
    are objects and every other property is an envelope field (`_ENVELOPE_FIELDS`); None when the
    object is a record itself (an order with `items` beside its own `status`)."""
    item = list_item(schema)
    if item is None or not isinstance(item.get("properties"), dict):
        return None
    others = [k for k, v in schema["properties"].items() if not (isinstance(v, dict) and v.get("items") is item)]
    return item if all(identifier(str(k)) in _ENVELOPE_FIELDS for k in others) else None


def _description(schema: dict[str, Any]) -> str:
    """The property's description, with its declared `minimum`/`maximum` when the text does not
    state them, so the column says its range (the seed generator keeps values inside it)."""
    text = str(schema.get("description") or schema.get("title") or "").strip()[:300]
    low, high = (schema.get(k) if isinstance(schema.get(k), (int, float)) else None for k in ("minimum", "maximum"))
    if (low is None and high is None) or range_in_text(text) != (None, None):
        return text
    bound = f"({low} to {high})" if low is not None and high is not None else (
        f"(at least {low})" if low is not None else f"(at most {high})")
    return f"{text} {bound}".strip()


@dataclass
class DomainSchema:
    tables: dict[str, TableDraft]
    # tool name -> {parameter: column} on the tool's own table (keys, parents, values)
    bindings: dict[str, dict[str, str]]
    # table name -> the columns some response schema describes: values a call's rows really
    # carry, as opposed to columns only its parameters made (synth.envs.dependencies)
    described: dict[str, set[str]] = field(default_factory=dict)


def _pk_name(entity: str) -> str:
    return identifier(f"{entity}_id")


def _id_prefix(entity: str, taken: set[str]) -> str:
    letters = "".join(w[0] for w in entity.split("_") if w).upper()
    base = (entity[:3].upper() if len(letters) < 2 else letters[:3]) or "ID"
    prefix, n = base, 2
    while prefix in taken:
        prefix = f"{base}{n}"
        n += 1
    taken.add(prefix)
    return f"{prefix}-"


def _param_column(table: TableDraft, param: str, entities: set[str],
                  key_names: dict[str, str] | None = None, schema: dict[str, Any] | None = None) -> str:
    """The column a parameter or response property is stored in on `table`; `key_names`: the
    parameter names by which gets of other entities take their keys (`_named_keys`); `schema`:
    the parameter's or property's own (one with an `enum` keeps its values and its name)."""
    s = identifier(param)
    flat = s.replace("_", "")
    entity_flat = table.entity.replace("_", "")
    if s == "id" or flat in {f"{entity_flat}id", f"{entity_flat}uuid"}:
        return table.primary_key
    named = (key_names or {}).get(s)
    if named is not None:
        # `airportCode` on arrivals is the code `GET /airports/{airportCode}` takes: an airport's key.
        return _pk_name(named) if named != table.entity else table.primary_key
    # `customerId` -> `customer_id` so that it lines up with the customers table's key.
    if flat.endswith("id") and len(flat) > 2 and not s.endswith("_id"):
        stem = s[:-2].rstrip("_")
        if singular(stem) in entities:
            return identifier(f"{singular(stem)}_id")
    stem, _, tail = s.rpartition("_")
    if tail in ("id", "code") and stem and not (schema or {}).get("enum"):
        ref = _entity_named(stem, entities, table.entity)
        if ref is not None:
            return _pk_name(ref)
    return s


# "Federal agency code ...", "The airport code ...", "... one of the language codes listed ...": the
# description opens by saying whose key it is, or says it is one of an entity's keys.
_DESCRIBED_KEY = re.compile(r"^(?:the\s+)?(?:[a-z]+\s+)?([a-z]+)\s+(?:id|identifier|code)\b"
                            r"|\bone of the ([a-z]+)\s+(?:ids|identifiers|codes)\b")


def _entity_described(schema: dict[str, Any], entities: set[str], own: str) -> str | None:
    """The other entity a parameter's description says it holds the key of: `target`, "one of
    the language codes listed in Language Support", holds a language's; `p_fa`, "Federal agency
    code", a federal agency's (the one entity whose name ends in the word). None when the text
    names no entity of the domain, or several."""
    if schema.get("type") not in ("string", "integer"):
        return None
    text = str(schema.get("description") or "").strip().lower()
    found = {ref for match in _DESCRIBED_KEY.finditer(text)
             if (ref := _entity_named(match.group(1) or match.group(2), entities, own)) is not None}
    return found.pop() if len(found) == 1 else None


def _entity_named(stem: str, entities: set[str], own: str) -> str | None:
    """The other entity a `<stem>_code` / `<stem>_id` names: `station_code` a station, and a
    one-word stem the one entity whose name ends in it (`region_code` an `i18n_region`, when the
    domain has no other region). None when it names none, or several."""
    named = singular(stem)
    if named in entities:
        return named if named != own else None
    if "_" in stem:
        return None
    ending = [e for e in entities if e != own and e.rsplit("_", 1)[-1] == named]
    return ending[0] if len(ending) == 1 else None


_RANGE_LOW = ("min_", "from_", "start_", "since_")
_RANGE_HIGH = ("max_", "to_", "end_", "until_")


def range_filter(param: str) -> tuple[str, str] | None:
    """`max_price` / `price_max` -> ("price", "le"); `min_date` / `date_from` -> ("date", "ge")."""
    s = identifier(param)
    for prefixes, op in ((_RANGE_LOW, "ge"), (_RANGE_HIGH, "le")):
        for prefix in prefixes:
            suffix = "_" + prefix[:-1]
            if s.startswith(prefix) and len(s) > len(prefix):
                return s[len(prefix):], op
            if s.endswith(suffix) and len(s) > len(suffix):
                return s[: -len(suffix)], op
    return None


FILTER_OPS = {"eq", "ne", "lt", "le", "gt", "ge", "contains"}


def declared_filter(shape: ToolShape, param: str) -> tuple[str, str] | None:
    """(column, op) from the parameter's `x-filter: {property, op}`, when the API states one."""
    stated = (shape.tool.extensions or {}).get("x-filter")
    entry = stated.get(param) if isinstance(stated, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("property"), str):
        return None
    op = entry.get("op", "eq")
    if op not in FILTER_OPS:
        return None
    return identifier(entry["property"]), op


def _qualify_subresources(shapes: list[ToolShape]) -> None:
    """`/orders/{id}/items` and `/carts/{id}/items` are different things: name nested entities
    after their parent (`order_item`) unless the domain also has them at the top level."""
    top_level = {s.entity for s in shapes if not s.parents}
    # A nested record whose own key is `<entity>_id` (`menu_item_id` under restaurants) is
    # referred to by that name elsewhere (`delivery_items.menu_item_id`): keep the name,
    # unless several parents nest things of that name (`/orders/{id}/items`, `/carts/{id}/items`).
    parents_of: dict[str, set[str]] = {}
    keyed: set[str] = set()
    for shape in shapes:
        if shape.parents:
            parents_of.setdefault(shape.entity, set()).add(shape.parents[-1][1])
            record = _record_schema(shape.tool.returns)
            props = record.get("properties") if record else None
            if isinstance(props, dict) and f"{shape.entity}_id" in {identifier(str(k)) for k in props}:
                keyed.add(shape.entity)
    for shape in shapes:
        if not shape.parents or shape.entity in top_level:
            continue
        if shape.entity in keyed and len(parents_of.get(shape.entity, ())) == 1:
            continue
        parent = shape.parents[-1][1]
        if shape.entity.startswith(parent) or parent.endswith(shape.entity):
            continue
        shape.entity = identifier(f"{parent}_{shape.entity}")


# Key-name endings that say a parameter holds a record's key without being its id (`airportCode`).
_NAMED_KEY_TAILS = ("code", "name", "number", "slug", "symbol", "handle")


def _named_keys(shapes: list[ToolShape]) -> dict[str, str]:
    """Parameter name -> entity, for the parameters by which gets take an entity's key that are
    named after it but not its id: `GET /airports/{airportCode}` makes `airportCode`, wherever
    the domain uses it (`/flightstatus/arrivals/{airportCode}/...`), an airport's key."""
    found: dict[str, set[str]] = {}
    for shape in shapes:
        if shape.action != "get" or shape.key_param is None or not shape.tool.method:
            continue
        s = identifier(shape.key_param)
        stem, _, tail = s.rpartition("_")
        if tail in _NAMED_KEY_TAILS and stem == shape.entity:
            found.setdefault(s, set()).add(shape.entity)
    return {name: next(iter(owners)) for name, owners in found.items() if len(owners) == 1}


def infer_schema(shapes: list[ToolShape]) -> DomainSchema:
    _qualify_subresources(shapes)
    entities = {s.entity for s in shapes} | {parent for s in shapes for _, parent in s.parents}
    key_names = _named_keys(shapes)
    tables: dict[str, TableDraft] = {}
    for entity in sorted(entities):
        tables[entity] = TableDraft(entity, identifier(plural_phrase(entity)), _pk_name(entity))
    # Table names must stay unique even when two entities pluralize alike.
    seen: set[str] = set()
    for t in tables.values():
        name, n = t.name, 2
        while name in seen:
            name = f"{t.name}_{n}"
            n += 1
        t.name = name
        seen.add(name)
        t.add(ColumnDraft(t.primary_key, "string", nullable=False, description=f"Unique id of the {t.entity.replace('_', ' ')}."))

    bindings: dict[str, dict[str, str]] = {}
    described: dict[str, set[str]] = {}
    for shape in shapes:
        table = tables[shape.entity]
        bound: dict[str, str] = {}
        if shape.key_param is not None:
            bound[shape.key_param] = table.primary_key
            key_schema = shape.properties[shape.key_param]
            if shape.bulk and isinstance(key_schema.get("items"), dict):
                key_schema = key_schema["items"]  # a bulk delete's list of keys: the keys' type
            is_int = key_schema.get("type") == "integer"
            table.key_integer = is_int if table.key_integer in (None, True) else False
        for param, parent_entity in shape.parents:
            parent = tables[parent_entity]
            fk = parent.primary_key
            col = table.add(ColumnDraft(fk, "string", description=f"The {parent_entity.replace('_', ' ')} it belongs to."))
            if col is None:
                continue
            table.foreign_keys[col] = parent_entity
            bound[param] = col
            is_int = shape.properties[param].get("type") == "integer"
            parent.key_integer = is_int if parent.key_integer in (None, True) else False
        # Response properties describe the record itself.
        # A listing whose records the shape found by name (`{body: {devices: [...]}}`) has those.
        record = shape.listed or (_record_schema(shape.tool.returns, listing=shape.action == "find")
                                  if shape.action != "delete" else None)
        if record:
            for prop, sub in (record.get("properties") or {}).items():
                if not isinstance(sub, dict):
                    continue
                typed = column_type(sub)
                if typed is None:
                    continue
                name = _param_column(table, prop, entities, key_names, sub)
                described.setdefault(table.name, set()).add(name)
                if name == table.primary_key:
                    if typed[0] == "integer":
                        table.key_integer = table.key_integer in (None, True)
                    continue
                table.add(ColumnDraft(name, typed[0], typed[1], _description(sub), default=declared_default(sub)))
        for param in shape.value_params:
            sub = shape.properties[param]
            typed = column_type(sub)
            # Paging and ordering parameters (roles from ingest) steer a find; they are never data.
            if typed is None or is_control_param(param) or param in shape.tool.param_roles:
                continue
            name = _param_column(table, param, entities, key_names, sub)
            stated = declared_filter(shape, param) if shape.action == "find" else None
            if stated is not None and stated[0] in table.columns:
                bound[param] = stated[0]
                continue
            ranged = range_filter(param) if shape.action == "find" else None
            if ranged is not None and ranged[0] in table.columns:
                bound[param] = ranged[0]
                continue
            if name == table.primary_key and shape.action in ("find", "create"):
                bound[param] = name
                continue
            if name == table.primary_key:
                continue
            col = table.add(ColumnDraft(name, typed[0], typed[1], _description(sub)))
            if col is not None:
                bound[param] = col
                described_ref = None if typed[1] else _entity_described(sub, entities, table.entity)
                if described_ref is not None and col not in table.foreign_keys and col != table.primary_key:
                    table.foreign_keys[col] = described_ref
        if shape.action == "update" and not any(
            c not in (table.primary_key, *table.foreign_keys) for c in bound.values()
        ):
            shape.action = "action"  # an update without data is counted, so it still changes the record
        if shape.action == "status":
            _add_status(table, shape)
        if shape.action == "action":
            counter = counter_column(shape.verb)
            table.add(ColumnDraft(counter, "integer", None, f"How many times '{shape.verb}' was applied.",
                                  nullable=False), force=True)
        bindings[shape.tool.name] = bound

    prefixes: set[str] = set()
    for table in tables.values():
        for col in table.columns.values():
            if col.name == table.primary_key or col.name in table.foreign_keys or not col.name.endswith("_id"):
                continue
            ref = singular(col.name[:-3])
            if ref in tables and ref != table.entity:
                table.foreign_keys[col.name] = ref
        pk = table.columns[table.primary_key]
        if table.key_integer:
            pk.type = "integer"
        else:
            pk.type = "string"
            table.id_prefix = _id_prefix(table.entity, prefixes)
    # Foreign key columns take the type of the key they reference.
    for table in tables.values():
        for col_name, ref in table.foreign_keys.items():
            col = table.columns[col_name]
            col.type, col.enum = tables[ref].columns[tables[ref].primary_key].type, None
    return DomainSchema(tables, bindings, described)


def declared_default(schema: dict[str, Any]) -> Any:
    """A record property's declared scalar `default` (`status: {default: pending}`), else None."""
    value = schema.get("default")
    return value if isinstance(value, (str, int, float, bool)) else None


def fitting_default(column: ColumnDraft) -> Any:
    """The column's default when it fits the column's final type (an enum member, a number for a
    number column, ...); None otherwise, so a stray default never makes the table invalid."""
    if column.default is None:
        return None
    from servers.spec import Column, check_value

    typed = Column(name="value", type=column.type, enum=column.enum if column.type == "enum" else None)
    return None if check_value(typed, column.default) else column.default


def counter_column(verb: str) -> str:
    return identifier(f"{verb}_count")


def _add_status(table: TableDraft, shape: ToolShape) -> None:
    """Make sure the status column is an enum that holds the target (and the stated source
    values) and at least one other value."""
    target = shape.status_target or "done"
    field_name = shape.status_field or "status"
    col = table.columns.get(field_name)
    if col is None:
        col = ColumnDraft(field_name, "enum", ["active"], "Current status.")
        table.add(col, force=True)
    if col.type != "enum":
        col.type, col.enum = "enum", ["active"]
    values = list(col.enum or [])
    match = _closest(target, values)
    if match is None:
        values.append(target)
        match = target
    if shape.status_from:
        sources = []
        for value in shape.status_from:
            found = _closest(value, values)
            if found is None:
                values.append(value)
                found = value
            sources.append(found)
        shape.status_from = sources
    if len(values) < 2:
        values.insert(0, "pending" if match != "pending" else "active")
    col.enum = values
    shape.status_target = match


def _closest(target: str, values: list[str]) -> str | None:
    """The enum value spelling `target` (`cancelled` matches `CANCELED`, `canceled`, `Cancelled`)."""
    norm = target.lower().replace("_", "")
    stems = {norm, norm.replace("ll", "l")}
    for v in values:
        vn = v.lower().replace("_", "").replace("-", "").replace(" ", "")
        if vn in stems or vn.replace("ll", "l") in stems:
            return v
    return None
