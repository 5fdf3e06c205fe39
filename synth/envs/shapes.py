"""Reading one tool: what it does (get / find / create / update / delete / a status change or
other action), to which entity, and which of its parameters name the entity's key or a parent.

HTTP tools are read from their method and path (`POST /orders/{orderId}/cancel`); tools from
sources without HTTP (OpenAI, BFCL, ToolBench, MCP) from the verbs in their names
(`cancel_booking`, `search_flights`). The result, a `ToolShape`, is all that schema inference and
operation mapping need to know about a tool beyond its parameter schemas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from synth.envs.fidelity import (
    DELETE_WORDS,
    LEADING_VERBS,
    STATE_WORDS,
    TRAILING_VERBS,
    UPDATE_WORDS,
    name_verb,
)
from synth.envs.names import identifier, singular, singular_phrase, split_words
from synth.envs.resources import (
    DOTTED_OPERATION_ID,
    ResourceRef,
    dropped_path_params,
    is_action_api,
    resource_ref,
    without_params,
)
from synth.tooldef import ToolDef

Action = Literal["get", "find", "create", "update", "delete", "status", "action"]

READ_VERBS = {
    "get", "list", "search", "find", "check", "fetch", "retrieve", "read", "lookup", "look",
    "query", "show", "view", "count", "describe", "browse", "download", "export", "calculate",
    "compute", "convert", "translate", "validate", "analyze", "analyse", "predict",
    "detect", "estimate", "compare", "recognize", "classify", "extract", "parse",
    "autocomplete", "suggest", "recommend", "explore", "scan", "inspect", "preview",
    "all", "fetchall", "obtain", "index", "ping", "health", "head", "options", "discover",
}
# Verbs that return one thing by its key when the tool has a key parameter.
GET_VERBS = {"get", "fetch", "retrieve", "read", "show", "view", "describe", "lookup", "obtain", "inspect"}
CREATE_VERBS = {
    "create", "add", "book", "post", "new", "register", "insert", "submit", "make", "place",
    "upload", "reserve", "schedule", "generate", "invite", "subscribe", "import", "enroll",
    "open", "log", "record", "issue", "request", "apply", "buy", "purchase", "order",
    "signup", "join", "follow", "like", "upsert", "provision", "allocate", "attach",
    "clone", "copy", "duplicate", "fork", "send", "transfer", "pay", "charge", "deposit",
    "withdraw", "rent", "rate", "review", "comment", "reply", "tag", "bookmark", "write",
}
UPDATE_VERBS = {
    "update", "set", "edit", "modify", "change", "patch", "rename", "assign", "replace", "put",
    "move", "save", "configure", "adjust", "reschedule", "upgrade", "downgrade", "mark",
    "reset", "toggle", "increment", "decrement", "extend", "renew", "sync", "refresh",
}
DELETE_VERBS = {
    "delete", "remove", "destroy", "purge", "drop", "erase", "clear", "unsubscribe",
    "unfollow", "unlike", "detach", "unassign", "uninstall", "deregister", "unregister", "leave",
}
# Verbs that move an entity to a status; the target value when the column's enum has none closer.
STATUS_VERBS = {
    "cancel": "cancelled", "approve": "approved", "reject": "rejected", "close": "closed",
    "reopen": "open", "archive": "archived", "unarchive": "active", "publish": "published",
    "unpublish": "draft", "activate": "active", "deactivate": "inactive", "enable": "enabled",
    "disable": "disabled", "suspend": "suspended", "resume": "active", "pause": "paused",
    "stop": "stopped", "complete": "completed", "confirm": "confirmed",
    "ship": "shipped", "deliver": "delivered", "refund": "refunded", "lock": "locked",
    "unlock": "unlocked", "block": "blocked", "unblock": "active", "verify": "verified",
    "accept": "accepted", "decline": "declined", "void": "voided", "ban": "banned",
    "unban": "active", "mute": "muted", "unmute": "active", "resolve": "resolved",
    "escalate": "escalated", "revoke": "revoked", "terminate": "terminated", "expire": "expired",
    "finalize": "finalized", "fulfill": "fulfilled", "dispatch": "dispatched", "hold": "on_hold",
    "release": "released", "restore": "active", "undelete": "active", "checkin": "checked_in",
    "checkout": "checked_out", "deny": "denied", "retire": "retired",
    "hide": "hidden", "unhide": "visible", "pin": "pinned", "unpin": "unpinned", "star": "starred",
    "unstar": "unstarred", "flag": "flagged", "unflag": "unflagged", "snooze": "snoozed",
}
# Verbs whose object is not what they create: `book_flight` makes a booking (of a flight).
TRANSACTION_NOUNS = {
    "book": "booking", "reserve": "reservation", "purchase": "purchase", "buy": "purchase",
    "subscribe": "subscription", "enroll": "enrollment", "register": "registration", "rent": "rental",
    "order": "order", "pay": "payment", "transfer": "transfer", "deposit": "deposit", "withdraw": "withdrawal",
}
# Statuses after which an entity cannot be cancelled / closed any more.
FINAL_STATUSES = {
    "cancelled", "canceled", "completed", "complete", "delivered", "closed", "refunded", "voided",
    "terminated", "expired", "rejected", "declined", "deleted", "archived", "finished", "done",
    "fulfilled", "shipped", "resolved",
}
DESTRUCTIVE_VERBS = {"cancel", "close", "revoke", "terminate", "void", "ban", "archive", "reject", "deny"}
OTHER_ACTION_VERBS = {
    "run", "execute", "trigger", "restart", "reboot", "retry", "rerun", "invoke", "call",
    "notify", "remind", "share", "vote", "upvote", "downvote", "watch", "unwatch", "test",
    "deploy", "build", "rollback", "redeploy", "scale", "merge", "rebase", "sign",
    "process", "touch", "poke", "claim", "redeem", "use", "start",
}

_VERSION = re.compile(r"^(v\d+(\.\d+)*[a-z]*|\d+(\.\d+)*|api|apis|rest|latest|public|services?)$", re.I)
_PARAM = re.compile(r"\{([^}]+)\}")
_FORMAT_PARAM = re.compile(r"extension|^\{?format\}?$", re.I)
_FORMAT_SEGMENT = re.compile(r"json|xml|csv", re.I)
_STOP_WORDS = {"by", "for", "from", "in", "of", "with", "to", "on", "using", "via", "at", "and", "or"}
_GENERIC_TAIL = {"details", "detail", "info", "information", "list", "data", "all", "id", "ids", "json", "xml"}
_ID_SUFFIXES = ("id", "key", "uuid", "code", "name", "number", "slug", "handle", "ref")


@dataclass
class ToolShape:
    """What a tool does, to which entity, with which parameters (property names as given)."""

    tool: ToolDef
    action: Action
    verb: str
    entity: str
    key_param: str | None = None
    # (parameter, parent entity) for resources nested under others: /users/{userId}/repos.
    parents: list[tuple[str, str]] = field(default_factory=list)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    status_target: str | None = None
    # The column a status change moves (`x-state-transition.field`) and the values it may leave
    # from (`x-state-transition.from`); without them: `status`, guarded by the verb's rules.
    status_field: str = "status"
    status_from: list[str] | None = None
    # Why the tool cannot be mapped onto a resource action (an update that names no record);
    # such a tool is left out of the draft with this reason, never turned into an insert.
    problem: str | None = None
    # A bulk delete: `key_param` is a list of the entity's keys (`DELETE /categories` with a
    # body of category ids), and every record it names is deleted.
    bulk: bool = False
    # The schema of the records a listing returns when the shape found them by name in its
    # response (`_listed_in_response`), not by the response's usual wrappers.
    listed: dict[str, Any] | None = None

    @property
    def is_write(self) -> bool:
        return self.action in {"create", "update", "delete", "status", "action"}

    @property
    def value_params(self) -> list[str]:
        """Parameters that carry data (filters for reads, values for writes)."""
        taken = {self.key_param} | {p for p, _ in self.parents}
        return [p for p in self.properties if p not in taken]


def normalized_parameters(tool: ToolDef) -> tuple[dict[str, dict[str, Any]], list[str]]:
    schema = tool.parameters if isinstance(tool.parameters, dict) else {}
    props = schema.get("properties") or {}
    if not isinstance(props, dict):
        props = {}
    props = {str(k): (v if isinstance(v, dict) else {}) for k, v in props.items()}
    required = [r for r in (schema.get("required") or []) if isinstance(r, str) and r in props]
    return props, required


def _path_tokens(path: str, dropped: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """`/v1/orders/{orderId}/cancel.json` -> [("lit","orders"),("param","orderId"),("lit","cancel")].

    The placeholders of `dropped` (parameters ingest dropped, like `.{content_type}`) are left
    out; what remains of their segment reads as the literal and parameters before the suffix
    (`/v1.{output_format}` names `v1`, as `/v1.{format}` does)."""
    tokens: list[tuple[str, str]] = []
    format_mark = ""
    for seg in path.split("?")[0].split("#")[0].split("/"):
        if not seg:
            continue
        if _FORMAT_SEGMENT.fullmatch(seg):
            # WMATA's `/json/jRoutes` twin of `/Routes`: the format segment, and the mark it puts
            # on the next one, say how the response is written, not what it is.
            format_mark = seg[0].lower()
            continue
        if format_mark and re.fullmatch(format_mark + r"[A-Z]\w*", seg):
            seg = seg[1:]
        format_mark = ""
        stripped = without_params(seg, dropped)
        if stripped != seg:
            literal = _PARAM.sub("", stripped).strip(".-_:;,")
            if literal:
                tokens.append(("lit", literal))
            tokens.extend(("param", p) for p in _PARAM.findall(stripped))
            continue
        params = _PARAM.findall(seg)
        if params and (not seg.startswith("{") or len(params) > 1):
            # `update{mediaTypeExtension}`, `{Sid}.{mediaTypeExtension}`: a response-format
            # suffix, not a key.
            params = [p for p in params if not _FORMAT_PARAM.search(p)]
            seg = re.sub(r"\{[^}]*\}", lambda m: "" if _FORMAT_PARAM.search(m.group(0)) else m.group(0), seg)
        if params:
            literal = _PARAM.sub("", seg).strip(".-_:;,")
            if literal and not re.fullmatch(r"\.?(json|xml|csv|txt|html)", literal, re.I):
                tokens.append(("lit", literal))
            tokens.extend(("param", p) for p in params)
            continue
        seg = re.sub(r"\.(json|xml|csv|txt|html|php)$", "", seg, flags=re.I)
        if seg.startswith(":"):
            tokens.append(("param", seg[1:]))
        elif not _VERSION.match(seg):
            tokens.append(("lit", seg))
    return tokens


def _verb_of(word: str) -> str | None:
    for vocab in (STATUS_VERBS, READ_VERBS, CREATE_VERBS, UPDATE_VERBS, DELETE_VERBS, OTHER_ACTION_VERBS):
        if word in vocab:
            return word
    return None


def _entity_from_words(words: list[str]) -> str:
    kept: list[str] = []
    for w in words:
        if w in _STOP_WORDS:
            break
        kept.append(w)
    while kept and kept[-1] in _GENERIC_TAIL:
        kept.pop()
    if not kept:
        return ""
    kept = kept[-3:]
    return singular_phrase(identifier("_".join(kept)))


def _id_param_for(entity: str, props: dict[str, dict[str, Any]], required: list[str]) -> str | None:
    """The parameter naming `entity`'s key: `order_id`, `orderId`, `id`, or a lone required id."""
    base = entity.replace("_", "")
    last = entity.split("_")[-1]
    scored: list[tuple[int, str]] = []
    for p in props:
        s = identifier(p)
        flat = s.replace("_", "")
        if flat in {f"{base}id", f"{base}uuid", f"{base}key"}:
            scored.append((0, p))
        elif s == "id":
            scored.append((1, p))
        elif flat in {f"{last}id", f"{last}uuid", f"{base}name", f"{base}code", f"{base}number", f"{base}slug"}:
            scored.append((2, p))
    if not scored:
        for p in required:
            s = identifier(p)
            if s.endswith(_ID_SUFFIXES) and props[p].get("type") in (None, "string", "integer"):
                scored.append((3, p))
                break
    return min(scored)[1] if scored else None


def _status_for(verb: str) -> str | None:
    target = STATUS_VERBS.get(verb)
    return target


def _state_transition(tool: ToolDef) -> dict[str, Any] | None:
    """`x-state-transition: {field, from, to}` when the operation states one (and it is usable)."""
    raw = tool.extensions.get("x-state-transition") if tool.extensions else None
    if not isinstance(raw, dict) or not isinstance(raw.get("to"), str):
        return None
    field_name = raw.get("field") if isinstance(raw.get("field"), str) and raw.get("field") else "status"
    sources = raw.get("from")
    if isinstance(sources, str):
        sources = [sources]
    sources = [v for v in sources if isinstance(v, str)] if isinstance(sources, list) else None
    return {"field": identifier(field_name), "from": sources or None, "to": raw["to"]}


def _transition_shape(
    tool: ToolDef, transition: dict[str, Any], tokens: list[tuple[str, str]],
    props: dict[str, dict[str, Any]], required: list[str], name_verb: str | None,
) -> ToolShape | None:
    """`POST /accounts/{account_id}/freeze` with `x-state-transition`: a status change of the
    account (the last path parameter's record), whatever the verb is called."""
    if tokens and tokens[-1][0] == "lit":
        verb_literal = tokens[-1][1]
        tokens = tokens[:-1]
    else:
        verb_literal = ""
    if not tokens or tokens[-1][0] != "param":
        return None
    key_param = tokens[-1][1]
    literals = [v for k, v in tokens if k == "lit"]
    if key_param not in props or not literals:
        return None
    entity = singular_phrase(identifier(literals[-1]))
    parents: list[tuple[str, str]] = []
    for i in range(len(tokens) - 1):
        kind, value = tokens[i]
        if kind == "param" and value != key_param and value in props and i > 0 and tokens[i - 1][0] == "lit":
            parent = singular_phrase(identifier(tokens[i - 1][1]))
            if parent != entity:
                parents.append((value, parent))
    verb = name_verb or identifier(verb_literal) or "update"
    return ToolShape(
        tool, "status", verb, entity, key_param, parents, props, required,
        status_target=transition["to"], status_field=transition["field"], status_from=transition["from"],
    )


# Word endings that make a verb into a noun (`listings`, `addition`, `getter`, `cancellations`,
# `searchable`, `enablement`) or finish another word (`address`, `addons`, `getaway`): after
# one of them a verb prefix is no verb of its own.
_NOT_OBJECT_STARTS = ("ing", "ion", "ition", "ation", "lation", "ling", "led", "er", "ed", "es", "able", "ment",
                      "ress", "on", "away", "ener", "ance", "ence")
# Verbs a run-together segment may start with: those that never start a resource's name.
_RUN_TOGETHER_VERBS = sorted(LEADING_VERBS - {"patch"}, key=len, reverse=True)
# Trailing words of an operation's name that say what it asks, not what it acts on.
_PREDICATES = frozenset({"exist", "exists"})


def _split_run_together(literal: str) -> list[str] | None:
    """`getcarrier` -> [get, carrier], `listpackages` -> [list, packages], `listbytag` -> [list]
    (by tag: the verb acts on the resource before it): a lower-case segment that is an
    operation verb and an object run together. None when it is one word (`listings`,
    `address`, `addons`) or no verb leads it."""
    if not re.fullmatch(r"[a-z]+", literal):
        return None
    for verb in _RUN_TOGETHER_VERBS:
        rest = literal[len(verb):]
        if not literal.startswith(verb) or len(rest) < 3 or rest.startswith(_NOT_OBJECT_STARTS):
            continue
        for stop in ("by", "for"):
            if rest.startswith(stop) and len(rest) >= len(stop) + 3:
                return [verb]
        return [verb, rest]
    return None


def _spells_operation(literal: str, operation_id: str) -> bool:
    """Whether a path segment is the operation's name (`checkFilesExist` for checkFilesExist,
    `setMerchantOrderInfos` for SetMerchantOrderInfoList): the RPC style of
    `resources.is_action_api`'s `/v1/canceljob`, on a path that also names resources."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", operation_id):
        return False  # `ExportTasks_List`, `open search`: a noun and a verb, or no name at all
    op_words = split_words(operation_id)
    if len(op_words) > 2 and op_words[-1] == "list":
        op_words = op_words[:-1]
    flat = "".join(split_words(literal))
    return len(op_words) >= 2 and singular(flat) == singular("".join(op_words))


# Words of a namespace that names a service, not a resource (`air_rest_services`, `billing_api`).
_SERVICE_WORDS = frozenset({"rest", "rpc", "service", "services", "api", "apis", "ws", "webservice", "webservices"})
_RPC_METHOD = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*)$")


def _rpc_method(literal: str) -> str | None:
    """`air_rest_services.get_facilities` -> `get_facilities`: a last segment that is a dotted
    RPC method name, a service's namespace then a verb acting on a noun, names that verb and
    noun (find facilities), not a resource called after the whole method. None for a namespace
    that names a resource (Slack's `channels.setPurpose` sets a channel's purpose), a method
    that is no verb and noun (`air_rest_services.metadata`) or a file name (`info.0.json`)."""
    match = _RPC_METHOD.match(literal)
    if match is None or not _SERVICE_WORDS & set(split_words(match.group(1))):
        return None
    words = split_words(match.group(2))
    if len(words) < 2 or _verb_of(words[0]) is None and words[0] not in LEADING_VERBS:
        return None
    return match.group(2)


# A literal naming how the next parameter selects a record (`/dweet/for/{thing}`,
# `/company/id/{id}`, `/users/by-email/{email}`), never a resource of its own.
_SELECTOR_WORDS = frozenset({"for", "from", "by", "of", "with", "id", "uuid", "name", "slug", "key", "code", "email",
                             "username", "url", "number"})


def _drop_selectors(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Tokens without selector literals: one that sits between a literal and a parameter."""
    kept: list[tuple[str, str]] = []
    for i, (kind, value) in enumerate(tokens):
        words = split_words(value) if kind == "lit" else []
        if (words and words[0] in _SELECTOR_WORDS and len(words) <= 2 and kept and kept[-1][0] == "lit"
                and i + 1 < len(tokens) and tokens[i + 1][0] == "param"):
            continue
        kept.append((kind, value))
    return kept


def _drop_trailing_selector(tokens: list[tuple[str, str]], props: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """`/wordnet/word/bylemma?lemma=`, `/users/by-email?email=`: a last literal that is `by` and
    the name of one of the operation's parameters says how the resource before it is looked
    up; it names no resource of its own."""
    if len(tokens) < 2 or tokens[-1][0] != "lit" or tokens[-2][0] != "lit":
        return tokens
    flat = "".join(split_words(tokens[-1][1]))
    if not flat.startswith("by") or len(flat) < 4:
        return tokens
    named = {identifier(p).replace("_", "") for p in props}
    return tokens[:-1] if flat[2:] in named else tokens


# A literal that ranks or qualifies the resource before it (`/airports/nearest/{lat},{lon}`,
# `/movies/popular`) or leads its name (`trendingShows`): no resource of its own.
_QUALIFIER_WORDS = frozenset({"nearest", "nearby", "closest", "trending", "popular", "latest", "recent", "featured",
                              "upcoming"})


def _drop_qualifiers(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for kind, value in tokens:
        words = split_words(value) if kind == "lit" else []
        if words and words[0] in _QUALIFIER_WORDS:
            if len(words) == 1 and out and out[-1][0] == "lit":
                if _verb_of(split_words(out[-1][1])[0]) is None:
                    continue  # `/airports/nearest`, not `/search/trending`
                out.append((kind, value))
                continue
            if len(words) > 1:
                value = "_".join(words[1:])
        out.append((kind, value))
    return out


# Read verbs of a literal between the resource and the parameters it is looked up by
# (`/cinema/search/{id}`, `/genre/searchall/{param}`).
_LOOKUP_VERBS = frozenset({"search", "searchall", "find", "findall", "lookup", "query"})


def _drop_lookup_verb(tokens: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], str | None]:
    """Tokens without a read-verb literal that stands between a resource's literal and the
    parameters that end the path, and that verb: it searches the resource before it."""
    last_lit = max((i for i, (k, _) in enumerate(tokens) if k == "lit"), default=-1)
    if last_lit < 1 or last_lit == len(tokens) - 1 or tokens[last_lit - 1][0] != "lit":
        return tokens, None
    word = identifier(tokens[last_lit][1]).replace("_", "")
    if word not in _LOOKUP_VERBS:
        return tokens, None
    return [*tokens[:last_lit], *tokens[last_lit + 1:]], "search" if word.startswith("search") else word


# Operation-name verbs of a listing: `listBots`, `ListObjects`, `searchArticles`.
_LIST_NAME_VERBS = frozenset({"list", "search", "find", "query", "browse"})
# Parameter names that are a key of whatever the path names (`/advisors/{id}`).
_BARE_KEYS = frozenset({"id", "ids", "uuid", "key", "name", "code", "slug", "number"})
# Name verbs that make a record whose key the caller chooses (on a PUT to its path).
_NAMED_CREATE_VERBS = frozenset({"create", "new", "register", "insert"})


def _names_entity(param: str, entity: str) -> bool:
    """Whether `param` is a key of `entity`: `botname`, `stationNumber`, `id`, `rental_location_id`."""
    s = identifier(param)
    if s in _BARE_KEYS:
        return True
    stem = identifier(_KEY_TAIL.sub("", param) or param).replace("_", "")
    flat = entity.replace("_", "")
    return bool(stem) and (stem.startswith(flat) or flat.startswith(stem) or flat.endswith(stem) or stem.endswith(flat))


def _key_like(param: str) -> bool:
    """`membershipId`, `hashIdentifier`, `airportCode`: a name that says it holds a key."""
    return identifier(param).endswith((*_ID_SUFFIXES, "identifier"))


def _listed_under(name_words: list[str], entity: str, key_param: str) -> str | None:
    """`listBots GET /bot/{app_id}`, `ListObjects GET /{Bucket}`, `ListJobsByPipeline GET
    /jobsByPipeline/{PipelineId}`: an operation named as a listing whose last path parameter
    names something else (the app, the bucket, the pipeline) reads the records under it; that
    parameter filters the list, it is not a record's key. The listed entity, or None."""
    if not name_words or name_words[0] not in _LIST_NAME_VERBS:
        return None
    listed = _entity_from_words(entity.split("_")) or entity
    return None if _names_entity(key_param, listed) else listed


def _creates_named(name_words: list[str]) -> bool:
    """`createBot`, `Servers_Create`, `Sites_CreateDeployment` (not `CreateOrUpdate`): the name's
    verb, first or right after the resource's noun, makes a record."""
    for i, word in enumerate(name_words):
        if word in _NAMED_CREATE_VERBS:
            return name_words[i + 1:i + 2] != ["or"]
        if i > 0 and word in LEADING_VERBS:
            return False
    return False


def _shape_http(tool: ToolDef, props: dict[str, dict[str, Any]], required: list[str]) -> ToolShape:
    method = (tool.method or "get").lower()
    tokens = _drop_selectors(_path_tokens(tool.path or "", dropped_path_params(tool)))
    tokens = _drop_qualifiers(_drop_trailing_selector(tokens, props))
    tokens, lookup_verb = _drop_lookup_verb(tokens) if method in ("get", "head") else (tokens, None)
    rpc_method = _rpc_method(tokens[-1][1]) if tokens and tokens[-1][0] == "lit" else None
    if rpc_method is not None:
        tokens = [*tokens[:-1], ("lit", rpc_method)]
    name_words = split_words(tool.original_name or tool.name)
    name_verb = _verb_of(name_words[0]) if name_words else None
    # `Sites_UpdateSiteMetadata`: the verb after the noun.
    inner_verb = next((w for i, w in enumerate(name_words) if i > 0 and w in LEADING_VERBS), None)
    transition = _state_transition(tool) if method in ("post", "put", "patch") else None
    if transition is not None:
        shaped = _transition_shape(tool, transition, tokens, props, required, name_verb)
        if shaped is not None:
            return shaped

    # Find the last literal segment; what follows it are its key params.
    last_lit = max((i for i, (k, _) in enumerate(tokens) if k == "lit"), default=-1)
    action_verb: str | None = None
    at_end = False
    # RPC paths (`POST /ips/create-pool.json {pool}`) carry no parameter: the body names the record.
    rpc = not any(k == "param" for k, _ in tokens)
    path_resource: str | None = None
    if last_lit >= 0:
        literal = tokens[last_lit][1]
        at_end = last_lit == len(tokens) - 1
        follows_param = last_lit > 0 and tokens[last_lit - 1][0] == "param"
        words = split_words(literal)
        if rpc and at_end and method in ("get", "post") and words and words[-1] in _INFO_WORDS \
                and (len(words) > 1 or last_lit > 0):
            # `/webhooks/info.json {id}`, `/ips/pool-info.json {pool}`: a read of the record the
            # rest of the segment, or the literal before it, names, by the parameter naming it
            # (required on a GET; the only value a POST sends: `MeterFolderInformation {Id, Name}`
            # sets a name). Naming none, the path reading stands (`/ui/openwindow/information`).
            rest = words[:-1]
            while rest and rest[0] in GET_VERBS:
                rest = rest[1:]
            named = singular_phrase(identifier("_".join(rest) if rest else tokens[last_lit - 1][1]))
            key = rpc_key(named, props, lone=True)
            values = rpc_key_candidates(props)
            if key is not None and (key in required if method == "get" else values == [key]):
                return ToolShape(tool, "get", "get", named, key, [], props, required)
        if len(words) == 1 and at_end and not follows_param:
            split = _split_run_together(literal)  # `/carriers/getcarrier`: get a carrier
            # A change needs the record it changes: `POST /orders/removetag` naming no tag stays
            # what it was rather than becoming a change of nothing. `/orders/listbytag` lists
            # orders; `POST /elements/searchbyattribute` may make a search, so it stays.
            changes = split and (split[0] in UPDATE_VERBS | DELETE_VERBS or split[0] in STATUS_VERBS)
            if split and not (changes and _id_param_for(singular(split[-1]), props, required) is None) \
                    and (len(split) > 1 or method == "get"):
                words = split
        first = words[0] if words else ""
        if first in ("check", "sign", "log") and len(words) > 1 and words[1] in ("in", "out"):
            first = first + words[1]  # `/bookings/{id}/check-in` checks in, it reads nothing
        verb = _verb_of(first)
        separated = bool(re.search(r"[-_.]", literal))
        # `/orders/batches/setMerchantOrderInfos` for SetMerchantOrderInfoList: the segment is
        # the operation's own name, so its first word is the operation's verb.
        named = at_end and len(words) > 1 and _spells_operation(literal, tool.original_name or "")
        # `DELETE /change-sets/{change-set-id}`: a parameter after the literal keying it whole
        # says the literal is a noun, a change set (the key's name makes the entity whole across
        # the domain, `_adopt_key_names`), so its first word is no verb of the call.
        keyed_whole = not at_end and tokens[last_lit + 1][0] == "param" and singular("".join(words)) == \
            identifier(_KEY_TAIL.sub("", identifier(tokens[last_lit + 1][1]))).replace("_", "")
        if len(words) > 1 and not follows_param and (first in LEADING_VERBS or (separated or named)
                                                      and verb is not None):
            # `/search_airports`, `/start-support-data-export`: a verb on the resource the rest
            # names (`StopPoint` stays a noun: an ambiguous verb needs a separator, or the
            # operation named by the segment, to count; `/members/{id}/pay-fines` stays an
            # action on that member).
            action_verb = None if keyed_whole else verb or first
            rest = words[1:]
            while len(rest) > 1 and rest[-1] in _PREDICATES:
                rest = rest[:-1]  # `checkFilesExist` checks files
            if last_lit > 0 and tokens[last_lit - 1][0] == "lit":
                path_resource = singular_phrase(identifier(tokens[last_lit - 1][1]))
            tokens = [*tokens[:last_lit], ("lit", "_".join(rest)), *tokens[last_lit + 1:]]
            verb = None
        # `/orders/{id}/cancel` or `/orders/search`: the literal is an action on what precedes it.
        if verb and (follows_param or (len(words) == 1 and last_lit > 0)) and last_lit == len(tokens) - 1:
            action_verb = verb
            tokens = tokens[:last_lit]
            last_lit = max((i for i, (k, _) in enumerate(tokens) if k == "lit"), default=-1)

    key_params = [v for k, v in tokens[last_lit + 1:] if k == "param"] if tokens else []
    if last_lit >= 0:
        entity = singular_phrase(identifier(tokens[last_lit][1]))
    else:
        # `Home_Get`, `Sites_ListSites`: a noun first, then the verb.
        inner = next((i for i, w in enumerate(name_words) if i > 0 and w in LEADING_VERBS), None)
        if name_verb is None and inner is not None:
            name_verb = _verb_of(name_words[inner]) or name_words[inner]
            name_words = name_words[:inner]
            entity = _entity_from_words(name_words)
        else:
            entity = _entity_from_words(name_words[1:] if name_verb else name_words)
        entity = entity or identifier(tool.api or "record")
    key_param = key_params[-1] if key_params else None
    # The last param after each literal is that parent's key (/repos/{owner}/{repo}: `repo`);
    # params before it (`owner`) are plain attributes.
    parents: list[tuple[str, str]] = []
    prev_lit: str | None = None
    group: list[str] = []
    for k, v in [*tokens[: last_lit if last_lit >= 0 else 0], ("lit", "")]:
        if k == "param":
            group.append(v)
            continue
        if prev_lit is not None and group:
            parent = singular_phrase(identifier(prev_lit))
            if parent != entity:
                parents.append((group[-1], parent))
        prev_lit, group = v, []
    # Path params absent from the declared properties cannot be read by an operation, and a
    # path param with an enum is a category (`/reports/{kind}`), not a record's key.
    if key_param is not None and (key_param not in props or props[key_param].get("enum")):
        key_param = None
    parents = [(p, e) for p, e in parents if p in props and e != entity and not props[p].get("enum")]

    if rpc and action_verb and last_lit >= 0 and not parents:
        rpc_shape = _rpc_shape(tool, action_verb, entity, path_resource, props, required)
        if rpc_shape is not None:
            return rpc_shape
    verb = action_verb or name_verb or method
    read_by_name = name_verb in READ_VERBS and action_verb is None
    # A POST answered with 201 made something: `check_out_copy` is `POST /loans`, a new loan.
    created = method == "post" and tool.returns_status == "201"
    if action_verb in GET_VERBS and (method == "get" or method == "post" and rpc_method is not None) \
            and key_param is None and at_end:
        # `GET /carriers/getcarrier?carrierCode=`: the required key of the record it names (by
        # POST too when the segment is an RPC method: `POST /x_rest_services.get_qid` gets as
        # its GET twin does).
        key = _id_param_for(entity, props, required)
        if key in required and (identifier(key) == "id" or identifier(key).startswith(entity.split("_")[-1])):
            return ToolShape(tool, "get", "get", entity, key, parents, props, required)
    if action_verb and action_verb in READ_VERBS and not created or (
        method == "post" and read_by_name and key_param is None and not created
    ):
        return ToolShape(tool, "find", action_verb or name_verb or "get", entity, None, parents, props, required)
    if method in {"get", "head", "options"}:
        if lookup_verb is not None:
            return ToolShape(tool, "find", lookup_verb, entity, None, parents, props, required)
        if len(key_params) > 1 and key_param is not None and not _key_like(key_param) \
                and not any(_names_entity(p, entity) for p in key_params):
            # `/flightstatus/arrivals/{airportCode}/{fromDateTime}`: several values, none naming
            # an arrival and the last no key (a time, a coordinate), select arrivals; they are
            # filters, not a record's key.
            return ToolShape(tool, "find", name_verb or "list", entity, None, parents, props, required)
        listed = _listed_under(name_words, entity, key_param) if key_param is not None else None
        if listed is not None:
            return ToolShape(tool, "find", name_words[0], listed, None, parents, props, required)
        if key_param is not None:
            return ToolShape(tool, "get", "get", entity, key_param, parents, props, required)
        return ToolShape(tool, "find", name_verb or "list", entity, None, parents, props, required)
    if action_verb:
        if key_param is not None and action_verb in CREATE_VERBS:
            # `/articles/{id}/reserve_doi`, `/messages/{id}/send`: something done to that record.
            return ToolShape(tool, "action", action_verb, entity, key_param, parents, props, required)
        return _write_shape(tool, action_verb, entity, key_param, parents, props, required)
    if method == "delete":
        if key_param is None:
            key_param = _id_param_for(entity, props, required)
            if key_param in {p for p, _ in parents}:
                key_param = None  # `DELETE /users/{id}/avatar`: the user's key, not the avatar's
        if key_param is not None:
            return ToolShape(tool, "delete", "delete", entity, key_param, parents, props, required)
        return _write_shape(tool, name_verb if name_verb in DELETE_VERBS else "delete", entity, None, parents,
                            props, required)
    if method in {"put", "patch"} or (method == "post" and key_param is not None):
        if key_param is not None:
            if method == "put" and _creates_named(name_words):
                # `PUT /bot/{app_id}/{botname}` (createBot), `Servers_Create PUT .../servers/{serverName}`:
                # the caller names the new record; the path's key is its key.
                return ToolShape(tool, "create", "create", entity, key_param, parents, props, required)
            if name_verb in STATUS_VERBS or name_verb in OTHER_ACTION_VERBS:
                return _write_shape(tool, name_verb, entity, key_param, parents, props, required)
            return ToolShape(tool, "update", name_verb or "update", entity, key_param, parents, props, required)
        stated = name_verb or inner_verb
        if method == "patch" or stated in UPDATE_VERBS or stated in DELETE_VERBS:
            verb = stated if stated in UPDATE_VERBS or stated in DELETE_VERBS else "update"
            return _write_shape(tool, verb, entity, None, parents, props, required)
        return ToolShape(tool, "create", name_verb or method, entity, None, parents, props, required)
    stated = name_verb or inner_verb
    if stated in UPDATE_VERBS or stated in DELETE_VERBS:
        return _write_shape(tool, stated, entity, key_param, parents, props, required)
    return ToolShape(tool, "create", name_verb or "create", entity, None, parents, props, required)


# Last words of an RPC segment that read one record (`/webhooks/info.json`, `/ips/pool-info.json`).
_INFO_WORDS = frozenset({"info", "information", "details", "detail"})
_SCALAR_TYPES = (None, "string", "integer")
# What a lone parameter may be named to name a record of its own: an address, not a value.
_NATURAL_KEYS = frozenset({"email", "address", "domain"})


def rpc_key_candidates(props: dict[str, dict[str, Any]]) -> list[str]:
    """Parameters that may name a record: scalar values, not a choice, a file or a control."""
    return [p for p in props if props[p].get("type") in _SCALAR_TYPES and not props[p].get("enum")
            and props[p].get("format") != "binary" and not is_control_param(p)]


def _lone_id(props: dict[str, dict[str, Any]]) -> str | None:
    """The one `*_id` parameter a body carries (`localId` of `getAccountInfo`), naming its record."""
    ids = [p for p in rpc_key_candidates(props) if identifier(p).endswith("_id")]
    return ids[0] if len(ids) == 1 else None


def rpc_key(entity: str, props: dict[str, dict[str, Any]], *, lone: bool = False) -> str | None:
    """The body or query parameter naming `entity`'s record when no path parameter does (RPC
    APIs: `POST /ips/delete-pool.json {pool}`): the parameter named as the entity (`pool`, `ip`
    for `ips`, `tag`), `<entity>_id`, a bare `id`, `<entity>_name`/`_code`, a bare `name`; with
    `lone`, also the one data parameter there is when it is an address (`email` of
    `/whitelists/delete.json`, `address` of `/senders/info.json`)."""
    flat = entity.replace("_", "")
    last = entity.split("_")[-1]
    candidates = rpc_key_candidates(props)
    ranked: list[tuple[int, str]] = []
    for p in candidates:
        s = identifier(p)
        f = s.replace("_", "")
        if f in {flat, last} or f + "s" == flat or f + "es" == flat:
            ranked.append((0, p))
        elif f in {f"{flat}id", f"{flat}uuid", f"{flat}key"}:
            ranked.append((1, p))
        elif s == "id":
            ranked.append((2, p))
        elif f in {f"{last}id", f"{flat}name", f"{flat}code", f"{flat}number", f"{flat}slug"}:
            ranked.append((3, p))
        elif s == "name":
            ranked.append((4, p))
    if ranked:
        return min(ranked)[1]
    if lone and len(candidates) == 1 and identifier(candidates[0]).split("_")[-1] in _NATURAL_KEYS:
        return candidates[0]
    return None


def _rpc_shape(tool: ToolDef, verb: str, entity: str, path_resource: str | None,
               props: dict[str, dict[str, Any]], required: list[str]) -> ToolShape | None:
    """An operation on a path without parameters (`POST /ips/pool-info.json`, `/templates/delete.json`,
    `/ips/start-warmup.json`), keyed by the parameter that names its record (`rpc_key`): `get`
    and `info` read that record, a create whose parameter is named as the entity makes the record
    the caller names (`create-pool {pool}`), a change changes it. A change of a part with no key
    of its own (`start-warmup {ip}`, `set-pool {ip, pool}`) changes the path's resource named by
    its parameter (the ip). None when no parameter names the record: the path reading stands."""
    reads = verb in READ_VERBS
    if (tool.method or "").lower() == "get" and not reads:
        # A GET that changes something (`GET /v1/deleteUser?username=`) must be told which record.
        required_props = {p: props[p] for p in required}
        if rpc_key(entity, required_props) is None:
            return None
        props_for_key = required_props
    else:
        props_for_key = props
    if not reads and path_resource and path_resource != entity:
        owner_key = rpc_key(path_resource, props_for_key)
        own_key = rpc_key(entity, props_for_key)
        if owner_key is not None and identifier(owner_key) not in _BARE_KEYS \
                and (own_key is None or verb in UPDATE_VERBS):
            if verb in UPDATE_VERBS:
                return ToolShape(tool, "update", verb, path_resource, owner_key, [], props, required)
            if verb not in CREATE_VERBS:
                return ToolShape(tool, "action", identifier(f"{verb}_{entity}"), path_resource, owner_key, [],
                                 props, required)
    if reads:
        return None  # a `get-<noun>` is read by the path rules
    if verb in CREATE_VERBS:
        key = rpc_key(entity, props_for_key)
        named = key is not None and identifier(key).replace("_", "") in {
            entity.replace("_", ""), entity.split("_")[-1]}
        return ToolShape(tool, "create", verb, entity, key, [], props, required) if named else None
    key = rpc_key(entity, props_for_key, lone=verb in UPDATE_VERBS | DELETE_VERBS or verb in STATUS_VERBS)
    if key is None:
        return None
    return _write_shape(tool, verb, entity, key, [], props, required)


def _write_shape(
    tool: ToolDef, verb: str, entity: str, key_param: str | None, parents: list[tuple[str, str]],
    props: dict[str, dict[str, Any]], required: list[str],
) -> ToolShape:
    if key_param is None:
        key_param = _id_param_for(entity, props, required) if verb not in CREATE_VERBS else None
        if key_param in {p for p, _ in parents}:
            key_param = None  # the parent's key says where the record is, it is not the record's key
    changes = verb in UPDATE_VERBS or verb in DELETE_VERBS or verb in STATUS_VERBS
    if key_param is None and verb in DELETE_VERBS:
        listed = bulk_key_param(entity, props, required)
        if listed is not None:
            return ToolShape(tool, "delete", verb, entity, listed, parents, props, required, bulk=True)
    if key_param is None and changes and parents:
        # `PUT /users/{id}/settings`, `DELETE /users/{id}/avatar`: a part of the parent record
        # with no key of its own; the call changes that parent, it never inserts a row.
        (key_param, entity), parents = parents[-1], parents[:-1]
        if verb in DELETE_VERBS:
            return ToolShape(tool, "action", verb, entity, key_param, parents, props, required)
    if key_param is None and changes:
        return ToolShape(tool, "update" if verb not in DELETE_VERBS else "delete", verb, entity, None, parents,
                         props, required, problem=f"'{verb}' names no {entity.replace('_', ' ')} to change: "
                         "the operation has no key parameter")
    if verb in DELETE_VERBS and key_param is not None:
        return ToolShape(tool, "delete", verb, entity, key_param, parents, props, required)
    if verb in STATUS_VERBS and key_param is not None:
        return ToolShape(tool, "status", verb, entity, key_param, parents, props, required, _status_for(verb))
    if verb in UPDATE_VERBS and key_param is not None:
        return ToolShape(tool, "update", verb, entity, key_param, parents, props, required)
    if key_param is not None and verb not in CREATE_VERBS:
        return ToolShape(tool, "action", verb, entity, key_param, parents, props, required)
    return ToolShape(tool, "create", verb, entity, None, parents, props, required)


# Words saying that a list holds keys, and names of a list argument that say nothing of what it holds.
_KEY_WORDS = frozenset({"id", "ids", "key", "keys", "identifier", "identifiers", "uuid", "uuids"})
_LIST_NAMES = frozenset({"body", "items", "item", "list", "data", "payload", "request", "values", "to", "delete",
                         "remove", "all"})


def _plain_words(text: str) -> list[str]:
    """`Blacklisted item IDs` -> [blacklisted, item, ids], `photoIds` -> [photo, ids]."""
    return [w for w in re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text).lower()) if w]


def scalar_list(schema: Any) -> bool:
    """Whether a schema is a list of plain values (strings or integers), such as a list of keys."""
    items = schema.get("items") if isinstance(schema, dict) else None
    return (schema.get("type") == "array" and isinstance(items, dict) and items.get("type") in ("string", "integer")
            and not items.get("properties"))


def bulk_key_param(entity: str, props: dict[str, dict[str, Any]], required: list[str]) -> str | None:
    """The list of `entity`'s keys a bulk delete takes (`DELETE /categories` with a required body
    `Category IDs: [string]`, `photos.batchDelete(photoIds)`), or None.

    The one required list of plain values whose name or description says it holds ids (keys,
    identifiers) and whose name, where it names anything, names the entity: `products` ("product
    IDs") on `DELETE /bump/new/bids` lists other records' keys, and `Resources` ("The IDs of one
    or more resources") of `DeleteTags` is not a list of tags."""
    found = []
    flat_entity = entity.replace("_", "")
    for param, schema in props.items():
        if not scalar_list(schema):
            continue
        text = " ".join(str(s.get("description") or "") for s in (schema, schema["items"]))
        # Google discovery specs say "Required." in the description rather than in `required`.
        if param not in required and not text.lstrip().startswith("Required"):
            continue
        words = _plain_words(param)
        at = next((i for i, w in enumerate(words) if w in _KEY_WORDS), None)
        if at is None and not _KEY_WORDS & set(_plain_words(text)):
            continue
        stem = singular("".join(w for w in (words if at is None else words[:at]) if w not in _LIST_NAMES))
        if stem and not (len(stem) >= 3 and (stem.startswith(flat_entity) or flat_entity.startswith(stem)
                                             or stem.endswith(flat_entity) or flat_entity.endswith(stem))):
            continue
        found.append(param)
    return found[0] if len(found) == 1 else None


def _shape_named(tool: ToolDef, props: dict[str, dict[str, Any]], required: list[str]) -> ToolShape:
    words = split_words(tool.original_name or tool.name)
    verb = _verb_of(words[0]) if words else None
    rest = words[1:] if verb else words
    entity = _entity_from_words(rest)
    # `get_order_status(order_id)`: an id parameter names the entity better than the trailing words.
    for p in props:
        s = identifier(p)
        if s.endswith("_id") and len(s) > 3:
            candidate = singular(s[:-3])
            if entity == "" or candidate in entity.split("_") or entity.startswith(candidate):
                entity = candidate
                break
    if not entity:
        entity = identifier(tool.api or "record")
    if verb is None:
        description = (tool.description or "").lower()
        writes = re.match(r"\s*(create|add|update|delete|remove|cancel|book|send|set)\b", description)
        verb = writes.group(1) if writes else "get"
    if verb in TRANSACTION_NOUNS:
        # `book_hotel(hotel_id, ...)` creates a booking of a hotel, not a hotel.
        return ToolShape(tool, "create", verb, TRANSACTION_NOUNS[verb], None, [], props, required)
    if verb in READ_VERBS:
        key = _id_param_for(entity, props, required) if verb in GET_VERBS else None
        if key is not None:
            return ToolShape(tool, "get", verb, entity, key, [], props, required)
        return ToolShape(tool, "find", verb, entity, None, [], props, required)
    return _write_shape(tool, verb, entity, None, [], props, required)


def _response_record(returns: Any) -> dict[str, Any]:
    """The properties of the object a response carries (`{data: {...}}` unwrapped), or {}."""
    schema = returns if isinstance(returns, dict) else None
    for _ in range(2):
        props = schema.get("properties") if isinstance(schema, dict) else None
        if not isinstance(props, dict):
            return {}
        if len(props) == 1:
            (only,) = props.values()
            if isinstance(only, dict) and isinstance(only.get("properties"), dict):
                schema = only
                continue
        return {str(k): v for k, v in props.items()}
    return {}


def _record_properties(returns: dict[str, Any] | None) -> frozenset[str]:
    """Property names of the record a response carries (`{data: {...}}` unwrapped)."""
    return frozenset(_response_record(returns))


# Arrays a response carries beside its records to report on the call, never records themselves:
# eBay's `{merchandisedProducts: [...], warnings: [...]}` lists products.
DIAGNOSTIC_ARRAYS = frozenset({"warnings", "errors"})


def list_item(returns: dict[str, Any] | None) -> dict[str, Any] | None:
    """The item schema of a list response: `[Thing]` or `{results: [Thing], count}`."""
    if not isinstance(returns, dict):
        return None
    if returns.get("type") == "array" and isinstance(returns.get("items"), dict):
        return returns["items"]
    props = returns.get("properties")
    if isinstance(props, dict):
        arrays = [v for k, v in props.items() if isinstance(v, dict) and v.get("type") == "array"
                  and identifier(str(k)) not in DIAGNOSTIC_ARRAYS]
        if len(arrays) == 1 and isinstance(arrays[0].get("items"), dict):
            return arrays[0]["items"]
    return None


def _adopt_key_names(shapes: list[ToolShape]) -> None:
    """`GET /locations/{rental_location_id}`: the key names the entity more precisely than the
    path (`rental_location`, not `location`), and other tables' `rental_location_id` columns
    refer to it; rename the entity in every tool of the domain, parents included."""
    renames: dict[str, str] = {}
    for shape in shapes:
        if shape.key_param is None or not shape.tool.method:
            continue
        key = identifier(shape.key_param)
        if not key.endswith("_id"):
            continue
        named = key[:-3]
        if named != shape.entity and named.endswith("_" + shape.entity):
            renames.setdefault(shape.entity, named)
    taken = {shape.entity for shape in shapes}
    renames = {old: new for old, new in renames.items() if new not in taken}
    if not renames:
        return
    for shape in shapes:
        shape.entity = renames.get(shape.entity, shape.entity)
        shape.parents = [(param, renames.get(parent, parent)) for param, parent in shape.parents]


# Verbs of a Google-style method that make the thing their object names (`importSshPublicKey`).
_MAKING_VERBS = frozenset({"create", "import", "insert", "generate"})


def _compound_creates(shapes: list[ToolShape]) -> None:
    """`oslogin.users.importSshPublicKey`, `compute.disks.createSnapshot`: a Google-style method
    whose verb makes what the rest of its name names inserts that record (an SSH public key, a
    snapshot) when the domain has that resource, not a row of the resource it is called on."""
    entities = {s.entity for s in shapes}
    for shape in shapes:
        name = shape.tool.original_name or ""
        if shape.action != "create" or not DOTTED_OPERATION_ID.match(name):
            continue
        words = split_words(name.rsplit(".", 1)[1])
        if len(words) < 2 or words[0] not in _MAKING_VERBS:
            continue
        made = singular_phrase(identifier("_".join(words[1:])))
        if made != shape.entity and made in entities:
            shape.entity = made
            shape.parents = [(p, e) for p, e in shape.parents if e != made]


def _noun_verb_reads(shapes: list[ToolShape]) -> None:
    """`/action/organization_show?id=`, `/action/organization_activity_list?id=` (CKAN and other
    RPC-style APIs that name a call `<noun>_<verb>`): a read named by a resource of the domain
    and a read verb (`organization_show`, `organization_follower_count`) reads that resource,
    and a listing of a part of a resource (`organization_activity`) taking a bare `id` lists
    the parts of the resource that `id` names."""
    entities = {s.entity for s in shapes}
    for shape in shapes:
        if shape.action != "find" or not shape.tool.method:
            continue
        literals = [v for k, v in _path_tokens(shape.tool.path or "") if k == "lit"]
        words = split_words(literals[-1]) if literals else []
        if len(words) < 2 or words[-1] not in READ_VERBS or not re.search(r"[-_]", literals[-1]):
            continue
        parts = shape.entity.split("_")
        if len(parts) > 1 and parts[-1] in READ_VERBS and "_".join(parts[:-1]) in entities:
            shape.entity = "_".join(parts[:-1])
            parts = parts[:-1]
        if "id" not in shape.properties or shape.key_param or shape.parents:
            continue
        owner = next((o for o in ("_".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)) if o in entities), None)
        if owner is not None:
            shape.parents = [("id", owner)]


def _rpc_path(tool: ToolDef) -> bool:
    """An HTTP tool read from its path (not an action API or a Google-style id) whose path
    carries no parameter: the body or query names its record."""
    if not tool.method or DOTTED_OPERATION_ID.match(tool.original_name or "") or is_action_api(tool.path, tool.original_name):
        return False
    return not any(k == "param" for k, _ in _path_tokens(tool.path or "", dropped_path_params(tool)))


def _rpc_keys(shapes: list[ToolShape]) -> None:
    """RPC APIs (`POST /ips/info.json {ip}`, `/templates/delete.json {name}`), whose paths carry
    no parameter: a resource whose key parameter is its name without the plural (`ip` of
    `/ips/`) is named by it; and a create given the parameter the domain's other tools name
    the record by (`/templates/add.json {name}`, `/whitelists/add.json {email}`) makes the
    record the caller names, so its key is that parameter."""
    keyed: dict[str, set[str]] = {}
    for shape in shapes:
        if shape.key_param is not None and not shape.parents and _rpc_path(shape.tool) \
                and rpc_key(shape.entity, {shape.key_param: shape.properties.get(shape.key_param, {})}, lone=True):
            keyed.setdefault(shape.entity, set()).add(shape.key_param)
    taken = {s.entity for s in shapes} | {e for s in shapes for _, e in s.parents}
    renames: dict[str, str] = {}
    for entity, keys in keyed.items():
        for key in keys:
            named = identifier(key)
            if named != entity and named not in taken and named + "s" == entity:
                renames[entity] = named
    for shape in shapes:
        shape.entity = renames.get(shape.entity, shape.entity)
    keyed = {renames.get(e, e): k for e, k in keyed.items()}
    for shape in shapes:
        keys = keyed.get(shape.entity, set())
        if shape.action != "create" or shape.key_param is not None or shape.parents or len(keys) != 1 \
                or not _rpc_path(shape.tool):
            continue
        (key,) = keys
        if identifier(key) not in _BARE_KEYS - {"name"} and key in rpc_key_candidates(shape.properties):
            shape.key_param = key


def _path_params(tool: ToolDef) -> set[str]:
    return set(_PARAM.findall(tool.path or ""))


def _scalar(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") in ("string", "integer", "number", "boolean") \
        or isinstance(schema, dict) and not schema.get("type") and not schema.get("properties") \
        and not schema.get("items")


def _creates_what_it_returns(shapes: list[ToolShape]) -> None:
    """`postVrp POST /optimize` answered with `{job_id}` while `getSolution GET
    /solution/{jobId}` reads a solution by it; `PUT /change-sets?channel_id=` answered with
    `{change_set_id, changed_assets}` while `DELETE /change-sets/{change-set-id}` takes it: a
    POST or PUT with no key in its path whose response describes only an `<x>_id` (or that id
    beside data: arrays, objects) the caller did not give, and that the domain's other tools
    take as the path key of one resource (its own first), makes that resource (the server
    makes the key): it inserts into that resource's table, whatever its path is called. A
    parameter of the call named after another resource's key (`channel_id`, `channels` keyed
    by it) says where the new record belongs, a parent, not its key. Not for a PATCH, a tool
    named as an update, delete or state change (those never insert), nor an id naming another
    resource of the domain (`RegisterDevice` answered with `{DeviceId}` made a device)."""
    entities = {s.entity for s in shapes} | {e for s in shapes for _, e in s.parents}
    keyed: dict[str, set[str]] = {}
    for shape in shapes:
        if shape.key_param is not None and shape.action in ("get", "update", "delete", "status", "action") \
                and shape.key_param in _path_params(shape.tool) and not shape.bulk:
            keyed.setdefault(identifier(shape.key_param), set()).add(shape.entity)
    for shape in shapes:
        tool = shape.tool
        method = (tool.method or "").lower()
        if method not in ("post", "put") or shape.action not in ("create", "update", "action") \
                or shape.problem or shape.bulk:
            continue
        path_params = _path_params(tool)
        if shape.key_param is not None and shape.key_param in path_params:
            continue
        if name_verb(tool.original_name or tool.name) in UPDATE_WORDS | DELETE_WORDS | STATE_WORDS:
            continue
        record = _response_record(tool.returns)
        ids = [identifier(p) for p, sub in record.items() if _scalar(sub)]
        # Only an id, or an id beside data (arrays, objects): the answer names what was made.
        if len(ids) != 1 or not ids[0].endswith("_id") or len(ids[0]) <= 3 \
                or ids[0] in {identifier(p) for p in shape.properties}:
            continue
        made = keyed.get(ids[0], set())
        if shape.entity in made:
            entity = shape.entity
        elif len(made) == 1:
            (entity,) = made
        else:
            continue
        named = singular(ids[0][:-3])
        if entity == shape.entity and shape.action == "create" or named != entity and named in entities:
            continue  # `RegisterDevice` answered with `{DeviceId}` made a device, whoever takes its id
        parents = [(p, e) for p, e in shape.parents if e != entity]
        taken = {p for p, _ in parents}
        for param in shape.properties:
            s = identifier(param)
            owner = singular(s[:-3]) if s.endswith("_id") else None
            if param not in path_params and param not in taken and owner in entities and owner != entity:
                parents.append((param, owner))
        shape.action, shape.entity, shape.key_param, shape.parents = "create", entity, None, parents


def reconcile_shapes(shapes: list[ToolShape]) -> list[ToolShape]:
    """Fix what one tool alone cannot tell: `POST /accounts/{account_id}/freeze` answered with
    the same record as `GET /accounts/{account_id}` (not a 201) changes that account; it does
    not insert into an `account_freezes` table. The same holds for `PUT /bookings/{id}/seat`.
    A status verb becomes a status change, any other verb an update of the body's fields (or,
    with no body, a counted action). A 201, or a different record, stays a nested create."""
    _adopt_key_names(shapes)
    _compound_creates(shapes)
    _noun_verb_reads(shapes)
    _rpc_keys(shapes)
    _creates_what_it_returns(shapes)
    record_of: dict[str, frozenset[str]] = {}
    # The record by id first; a list's items stand in for it when the API has no get.
    for action in ("get", "find"):
        for shape in shapes:
            if shape.action == action and shape.tool.method and not shape.parents:
                returns = shape.tool.returns if action == "get" else list_item(shape.tool.returns)
                props = _record_properties(returns)
                if props:
                    record_of.setdefault(shape.entity, props)
    out: list[ToolShape] = []
    for shape in shapes:
        tool = shape.tool
        method = (tool.method or "").lower()
        if (
            method in ("post", "put", "patch")
            and shape.action in ("create", "find")
            and shape.key_param is None
            and shape.parents
            and tool.returns_status != "201"
        ):
            param, parent = shape.parents[-1]
            returned = _record_properties(tool.returns)
            if returned and record_of.get(parent) == returned:
                verb = shape.entity[len(parent) + 1:] if shape.entity.startswith(parent + "_") else shape.entity
                first = verb.split("_")[0]
                rest = shape.parents[:-1]
                if first in STATUS_VERBS:
                    shape = ToolShape(tool, "status", first, parent, param, rest, shape.properties,
                                      shape.required, _status_for(first))
                else:
                    # infer_schema turns an update that sets nothing into a counted action.
                    shape = ToolShape(tool, "update", verb, parent, param, rest, shape.properties, shape.required)
        elif (
            shape.action == "action"
            and method in ("post", "put", "patch")
            and shape.key_param is not None
            and shape.value_params
            and tool.returns_status != "201"
            and _record_properties(tool.returns)
            and record_of.get(shape.entity) == _record_properties(tool.returns)
            and set(shape.value_params) <= _record_properties(tool.returns)
        ):
            # `POST /ticket-purchases/{id}/transfer {fan_id}` answered with the purchase: it sets
            # the purchase's `fan_id`; counting transfers would lose what the call says.
            shape = ToolShape(tool, "update", shape.verb, shape.entity, shape.key_param, shape.parents,
                              shape.properties, shape.required)
        out.append(shape)
    return out


def _shape_from_ref(tool: ToolDef, ref: ResourceRef, props: dict[str, dict[str, Any]],
                    required: list[str]) -> ToolShape:
    """Map an operation-id verb onto a resource action: `get`/`describe` one -> get, `list` ->
    find, `create`/`insert` -> create, `update`/`patch` -> update, `delete` -> delete, a status
    verb -> status change, anything else -> an action on the record (never an insert unless the
    verb creates)."""
    method = (tool.method or "post").lower()
    verb_words = ref.verb_words[1:] if len(ref.verb_words) > 1 and ref.verb_words[0] == "batch" else ref.verb_words
    first = verb_words[0]
    compound = len(verb_words) > 1
    entity, key, parents = ref.entity, ref.key_param, ref.parents
    parent_params = {p for p, _ in parents}
    if key in parent_params:
        key = None
    if first in READ_VERBS or (method == "get" and first not in CREATE_VERBS | UPDATE_VERBS | DELETE_VERBS):
        one = first in GET_VERBS | {"describe"} or compound
        if one and key is not None and not ref.plural and (key in required or ref.style == "dotted"):
            return ToolShape(tool, "get", "get", entity, key, parents, props, required)
        return ToolShape(tool, "find", first, entity, None, parents, props, required)
    updates = first in ("update", "patch", "modify", "edit", "replace") and not compound or first == "put"
    if updates and key is not None:
        return ToolShape(tool, "update", first, entity, key, parents, props, required)
    if first in DELETE_VERBS and key is not None and not compound:
        return ToolShape(tool, "delete", first, entity, key, parents, props, required)
    if first in ("create", "insert", "add", "new", "put", "register", "upload", "import") and not compound \
            and key not in required:
        return ToolShape(tool, "create", first, entity, None, parents, props, required)
    if key is None and first in CREATE_VERBS:
        return ToolShape(tool, "create", first, entity, None, parents, props, required)
    return _write_shape(tool, first, entity, key, parents, props, required)


_KEY_TAIL = re.compile(r"(?i)_?(id|name|arn|identifier|key)$")


def _facet_of_keyed_record(shape: ToolShape) -> ToolShape:
    """`GetBucketAcl(Bucket)`, `PutBucketPolicy(Bucket)`: the key names a bucket and the noun is
    a part of it (`bucket_acl`), so the call reads or changes that bucket; deleting the part
    is an action on the bucket, never deleting the bucket."""
    if shape.problem or shape.action == "create":
        return shape
    if shape.key_param is None and shape.action == "find":
        # `GetInstanceState(instanceName)`: a read of one instance's part is a get of that instance.
        parents = {p for p, _ in shape.parents}
        for param in shape.required:
            named = singular(identifier(_KEY_TAIL.sub("", param) or param))
            if param not in parents and named and shape.entity.startswith(named + "_") \
                    and _KEY_TAIL.search(param) and shape.tool.method:
                shape.entity, shape.key_param, shape.action = named, param, "get"
                return shape
        return shape
    if shape.key_param is None or shape.action == "find":
        return shape
    named = singular(identifier(_KEY_TAIL.sub("", shape.key_param) or shape.key_param))
    if not named or named == shape.entity or not shape.entity.startswith(named + "_"):
        return shape
    part = shape.entity[len(named) + 1:]
    shape.entity = named
    if shape.action == "delete":
        shape.action, shape.verb = "action", identifier(f"{shape.verb}_{part}")
    return shape


# Verbs that never start or end a resource's name (`patch` does: SSM's patch baselines).
_NAME_LEADING_VERBS = LEADING_VERBS - {"patch"}
_NAME_TRAILING_VERBS = frozenset({"get", "create", "delete", "describe", "put", "fetch", "retrieve", "insert",
                                  "remove", "list", "update"})


def _nounify(name: str, literals: list[str], fallback: str) -> str:
    """`add_to_group` -> `group`, `get_forecast_point` -> `forecast_point`, a lone `get` -> the
    path's noun before it (`/articles/get/{id}` -> `article`)."""
    words = name.split("_")
    if len(words) == 1 and words[0] in TRAILING_VERBS:
        before = [v for v in literals if v not in TRAILING_VERBS and v != name]
        words = (before[0] if before else fallback).split("_")
    while len(words) > 1 and words[0] in _NAME_LEADING_VERBS:
        words = words[1:]
        while len(words) > 1 and words[0] in _STOP_WORDS:
            words = words[1:]
    while len(words) > 1 and words[-1] in _NAME_TRAILING_VERBS:
        words = words[:-1]
    return "_".join(words) or name


def _noun_entity(shape: ToolShape) -> ToolShape:
    """Tables are nouns, for the record and for the parents its path names."""
    literals = [singular_phrase(identifier(v)) for k, v in _path_tokens(shape.tool.path or "", dropped_path_params(shape.tool))
                if k == "lit"]
    stem = identifier(_KEY_TAIL.sub("", shape.key_param or "")) if shape.key_param else ""
    # A verb literal stands for the noun right before it in the path.
    entity = _nounify(shape.entity, list(reversed(literals)), stem or identifier(shape.tool.api or "record"))
    parents = []
    for param, parent in shape.parents:
        named = _nounify(parent, list(reversed(literals[:literals.index(parent)] if parent in literals else literals)),
                         identifier(_KEY_TAIL.sub("", param) or param))
        if named != entity:
            parents.append((param, named))
    shape.entity, shape.parents = entity, parents
    return shape


def _never_insert_a_change(shape: ToolShape) -> ToolShape:
    """A PATCH, or a tool whose name's verb updates or deletes, is never an insert: it changes
    the record it names, its path parent's, or (naming none) is left out with the reason."""
    if shape.action != "create":
        return shape
    stated = name_verb(shape.tool.original_name or shape.tool.name)
    method = (shape.tool.method or "").lower()
    if method != "patch" and stated not in UPDATE_WORDS and stated not in DELETE_WORDS:
        return shape
    verb = stated if stated in UPDATE_WORDS or stated in DELETE_WORDS else "update"
    return _write_shape(shape.tool, verb, shape.entity, None, shape.parents, shape.properties, shape.required)


def shape_tool(tool: ToolDef) -> ToolShape:
    shape = _shape_tool(tool)
    if shape.action == "delete" and shape.key_param is not None and scalar_list(shape.properties.get(shape.key_param)):
        shape.bulk = True  # `DELETE /photos?ids=`: a list of keys, every record of which goes
    return shape


def _shape_tool(tool: ToolDef) -> ToolShape:
    props, required = normalized_parameters(tool)
    if tool.method and tool.path:
        ref = resource_ref(tool, props, required) if _state_transition(tool) is None else None
        if ref is not None and ref.rpc and ref.key_param is None \
                and ref.verb_words[0] in GET_VERBS | UPDATE_VERBS | DELETE_VERBS:
            ref.key_param = _lone_id(props)
        if ref is not None:
            shaped = _shape_from_ref(tool, ref, props, required)
        else:
            shaped = _shape_http(tool, props, required)
        if ref is None or ref.style != "dotted":
            # `achievementConfigurations.get(achievementId)` gets an achievement configuration and
            # `liveChatMessages.list(liveChatId)` lists messages: a Google-style id names its
            # resource, which is no part of the record its key parameter is named after.
            shaped = _facet_of_keyed_record(shaped)
        return _listed_in_response(_noun_entity(_never_insert_a_change(shaped)))
    return _noun_entity(_never_insert_a_change(_shape_named(tool, props, required)))


# Words that end a run-together name of a listing without naming what it lists
# (`/devicelist`, `/gethomedata`).
_LISTING_TAILS = ("list", "data", "info", "details")


def named_records(returns: Any, entity: str, depth: int = 2) -> dict[str, Any] | None:
    """The item schema of the array of objects a response names after `entity` (`devices` for a
    device), at its top or inside its object properties (`{body: {devices: [...], modules: [...]}}`),
    `depth` levels down; None when there is none, or several."""
    props = returns.get("properties") if isinstance(returns, dict) else None
    if not isinstance(props, dict) or depth < 1:
        return None
    found = [v["items"] for k, v in props.items() if isinstance(v, dict) and isinstance(v.get("items"), dict)
             and isinstance(v["items"].get("properties"), dict) and v["items"]["properties"]
             and singular(identifier(str(k))) == entity]
    if len(found) == 1:
        return found[0]
    if found:
        return None
    inner = [named_records(v, entity, depth - 1) for v in props.values() if isinstance(v, dict)]
    inner = [item for item in inner if item is not None]
    return inner[0] if len(inner) == 1 else None


def _listed_in_response(shape: ToolShape) -> ToolShape:
    """`GET /devicelist` answered with `{body: {devices: [...], modules: [...]}}`, `GET
    /gethomedata` with `{body: {homes: [...], user}}`: a run-together `<noun>list` / `<noun>data`
    names no record of its own; when the response carries an array of records named after the
    noun, the listing lists those (devices, homes). Without such an array (`/getstationsdata`
    answered with `devices`, `/playlist`) the name stands."""
    if shape.action != "find" or shape.key_param is not None or shape.parents or "_" in shape.entity:
        return shape
    tail = next((t for t in _LISTING_TAILS if shape.entity.endswith(t)), None)
    if tail is None or len(shape.entity) - len(tail) < 3:
        return shape
    noun = singular(shape.entity[:-len(tail)])
    records = named_records(shape.tool.returns, noun)
    if records is not None:
        shape.entity, shape.listed = noun, records
    return shape


# Parameters that steer a request (paging, sorting, output format, credentials) rather than
# describe the entity; they stay in the input schema but are not stored as columns.
LIMIT_PARAMS = {
    "limit", "per_page", "perpage", "page_size", "pagesize", "max_results", "maxresults", "size",
    "top", "max", "rows", "num_results", "count", "results_per_page", "max_items", "maxitems", "n",
}
SEARCH_PARAMS = {"q", "query", "search", "keyword", "keywords", "term", "text", "search_term", "filter", "name_contains"}
CONTROL_PARAMS = LIMIT_PARAMS | SEARCH_PARAMS | {
    "offset", "page", "start", "skip", "cursor", "after", "before", "page_token", "pagetoken",
    "next_token", "sort", "sort_by", "sortby", "order_by", "orderby", "direction", "sort_order",
    "fields", "format", "callback", "api_key", "apikey", "access_token", "token", "auth", "key",
    "pretty", "prettyprint", "include", "expand", "embed", "lang", "locale", "output", "alt",
    "user_ip", "userip", "quota_user", "quotauser", "oauth_token", "client_id", "client_secret",
    "x_api_key", "authorization", "version", "v", "jsonp", "debug",
}


def is_control_param(name: str) -> bool:
    return identifier(name) in CONTROL_PARAMS
