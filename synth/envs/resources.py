"""Which resource an operation acts on, and with which verb, when its path alone does not say.

Three shapes of HTTP API are told apart:

- **REST paths** (`/orders/{orderId}/items/{itemId}`, `/jobs/{id}:cancel`): the path names the
  resources; `synth.envs.shapes` reads them.
- **Google-style operation ids** (`ml.projects.jobs.get` on `GET /v1/{name}`,
  `ml.projects.jobs.create` on `POST /v1/{parent}/jobs`): the id is `service.resource...verb`;
  `{name}` is the record's key and `{parent}` its parent's.
- **Action APIs** (AWS `POST /#CreateIPSet`, `?Action=DescribeInstances`, `X-Amz-Target`): one
  endpoint, the operation name is `VerbNoun`; the key is the body's `<Noun>Id` / `<Noun>Name` /
  `<Noun>Arn`.

`resource_ref` returns what it can read, or None for a plain REST path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from synth.envs.names import identifier, singular, singular_phrase, split_words

# A Google-style operation id (`games.achievementConfigurations.get`): service, resources, method.
DOTTED_OPERATION_ID = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){2,}$")
_ACTION_NAME = re.compile(r"^[A-Z][A-Za-z0-9]+$")
_PARAM = re.compile(r"\{\+?([^}]+)\}")
# Path params that carry a Google-style full resource name rather than one key.
_NAME_PARAMS = {"name", "resource", "parent"}
_KEY_SUFFIXES = ("id", "ids", "name", "arn", "identifier", "key", "uuid", "code")
_STOP_WORDS = {"by", "for", "from", "in", "of", "with", "to", "on", "using", "via", "at", "and", "or"}
_ACTION_PREFIXES = {"batch", "admin", "bulk"}
_NOUN_VERBS = {"create", "get", "update", "delete", "list", "describe", "cancel", "remove", "add", "put",
               "start", "stop", "reset", "enable", "disable"}
# Words between a method's verb and its noun that are neither (`signupNewUser`, `signOutUser`).
_NOUN_LEADS = {"new", "out", "in", "up", "all"}
_GENERIC_TAIL = {"details", "detail", "info", "information", "list", "data", "all", "json", "xml"}


def dropped_path_params(tool: Any) -> frozenset[str]:
    """Placeholders of `tool.path` that ingest dropped (`content_type` in
    `/collection/{collection_id}.{content_type}`, which only picked JSON or XML): no argument
    fills them, so they name neither a record's key nor a resource. The tool keeps its path as
    the source wrote it; the path readers leave these out."""
    path = tool.path or ""
    dropped = getattr(tool, "dropped_params", None) or {}
    if not dropped or "{" not in path:
        return frozenset()
    schema = getattr(tool, "parameters", None)
    props = schema.get("properties") if isinstance(schema, dict) else None
    kept = props if isinstance(props, dict) else {}
    return frozenset(name for name in dropped if name not in kept and re.search(_placeholder(name), path))


def _placeholder(name: str) -> str:
    return r"\{\+?" + re.escape(name) + r"\}"


def without_params(segment: str, names: frozenset[str]) -> str:
    """`collection.{content_type}` -> `collection`: a path segment without the placeholders of
    `names` and the dot that introduces each."""
    for name in names:
        segment = re.sub(r"\.?" + _placeholder(name), "", segment)
    return segment


@dataclass
class ResourceRef:
    """The resource an operation acts on, read from its operation id and path."""

    # The operation's verb as words (`getIamPolicy` -> ["get", "iam", "policy"]).
    verb_words: list[str]
    entity: str
    key_param: str | None
    # (parameter, parent entity), outermost first.
    parents: list[tuple[str, str]] = field(default_factory=list)
    # Whether the operation id names the resource in the plural (`DescribeInstances`): a listing.
    plural: bool = False
    style: str = "dotted"
    # Whether the entity is the noun the method names on a path without parameters
    # (`identitytoolkit.relyingparty.getAccountInfo` on `POST /getAccountInfo`): the body names the record.
    rpc: bool = False


def is_action_api(path: str | None, operation_id: str) -> bool:
    """`POST /`, `POST /#CreateIPSet`, `/?Action=CreateX`: one endpoint, the verb in the name.
    Also `POST /v1/canceljob` for `CancelJob` (AWS Batch, REST-JSON services): a path whose last
    segment is the operation's name lower-cased and which carries no parameter."""
    if not path or not _ACTION_NAME.match(operation_id or ""):
        return False
    base, _, fragment = path.partition("#")
    base = base.split("?")[0].strip("/")
    if "{" not in base and base and base.split("/")[-1].lower() == operation_id.lower() and len(split_words(operation_id)) >= 2:
        return True
    return base == "" and (fragment == "" or operation_id in fragment) or "Action=" in path


def _noun(words: list[str]) -> tuple[str, bool]:
    kept: list[str] = []
    for w in words:
        if w in _STOP_WORDS:
            break
        kept.append(w)
    while len(kept) > 1 and kept[-1] in _GENERIC_TAIL:
        kept.pop()
    if not kept:
        return "", False
    last = kept[-1]
    return singular_phrase(identifier("_".join(kept))), singular(last) != last


def key_param_for(entity: str, props: dict[str, Any], required: list[str]) -> str | None:
    """The parameter naming `entity`'s key: `IPSetId`, `ip_set_name`, `DBInstanceIdentifier`, `id`."""
    flat = entity.replace("_", "")
    last = entity.split("_")[-1]
    best: tuple[int, str] | None = None
    for p in props:
        if isinstance(props[p], dict) and props[p].get("enum"):
            continue  # a choice among fixed values (`metricName`, `taskStatus`) names no record
        s = identifier(p).replace("_", "")
        score = None
        for rank, suffix in enumerate(("id", "identifier", "arn", "name", "uuid", "key", "code")):
            if s == flat + suffix:
                score = rank
                break
        if score is None and s == flat:
            score = 9  # `{project}` names the project
        if score is None and s == "id":
            score = 10
        if score is None and s in {last + "id", last + "name", last + "arn"}:
            score = 11
        if score is not None and (best is None or (score, p) < best):
            best = (score, p)
    if best is not None:
        return best[1]
    return None


def _action_ref(operation_id: str, props: dict[str, Any], required: list[str]) -> ResourceRef | None:
    words = split_words(operation_id)
    while len(words) > 2 and words[0] in _ACTION_PREFIXES:
        words = words[1:]  # `BatchGetBuilds`, `AdminDeleteUser`: the verb follows
    if len(words) < 2:
        return None
    noun = words[1:]
    while len(noun) > 1 and noun[0] in _NOUN_VERBS:
        noun = noun[1:]  # `DescribeCreateAccountStatus` describes an account status
    entity, plural = _noun(noun)
    if not entity:
        return None
    key = key_param_for(entity, props, required)
    if key is None and words[0] not in ("create", "list", "describe", "get", "add", "put", "register"):
        # `RemoveTags(ResourceId, TagKeys)`: the record is named by the one required key-like parameter.
        keyed = [p for p in required if identifier(p).split("_")[-1] in _KEY_SUFFIXES]
        key = keyed[0] if len(keyed) == 1 else None
    return ResourceRef([words[0]], entity, key, [], plural, "action")


def _path_tokens(path: str, dropped: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    for seg in path.split("?")[0].split("#")[0].split("/"):
        seg = without_params(seg, dropped)
        if not seg:
            continue
        params = _PARAM.findall(seg)
        if params:
            tokens.extend(("param", p) for p in params)
            rest = _PARAM.sub("", seg).strip(":")
            if rest:
                tokens.append(("verb", rest))
            continue
        if ":" in seg:
            lit, _, verb = seg.partition(":")
            tokens.append(("lit", lit))
            tokens.append(("verb", verb))
            continue
        if re.fullmatch(r"v\d+(\.\d+)*[a-z0-9]*|api|apis", seg, re.I):
            continue
        tokens.append(("lit", seg))
    return tokens


def _dotted_ref(operation_id: str, path: str, props: dict[str, Any], required: list[str],
                dropped: frozenset[str] = frozenset()) -> ResourceRef | None:
    parts = operation_id.split(".")
    resources = [singular_phrase(identifier(p)) for p in parts[1:-1] if p]
    if not resources:
        return None
    verb_words = split_words(parts[-1]) or ["get"]
    entity = resources[-1]
    verb_flat = identifier(parts[-1]).replace("_", "")
    # `/{project}/setCommonInstanceMetadata`: a trailing literal that is the verb is no resource.
    tokens = [t for t in _path_tokens(path, dropped) if t[0] != "verb"
              and not (t[0] == "lit" and identifier(t[1]).replace("_", "") == verb_flat)]
    key: str | None = None
    parents: list[tuple[str, str]] = []
    # The param right after the literal naming the entity is its key (`/jobs/{jobId}`).
    entity_flat = entity.replace("_", "")
    last_lit = max((i for i, (k, _) in enumerate(tokens) if k == "lit"), default=-1)
    for i, (kind, value) in enumerate(tokens):
        if kind == "lit" and singular_phrase(identifier(value)).replace("_", "") == entity_flat:
            following = [v for k, v in tokens[i + 1:i + 2] if k == "param"]
            if following:
                key = following[0]
    trailing = [v for k, v in tokens[last_lit + 1:] if k == "param"]
    collection = bool(tokens) and tokens[-1][0] == "lit"
    if key is None and trailing and not collection:
        key = trailing[-1]
    # Parents: each param before the key names the resource of the literal before it, or (a bare
    # `{parent}` / `{project}`) the resource the operation id puts above the entity.
    prev_lit: str | None = None
    chain = resources[:-1]
    for kind, value in tokens:
        if kind == "lit":
            prev_lit = value
            continue
        if value == key:
            break
        if prev_lit is not None:
            parent = singular_phrase(identifier(prev_lit))
        elif identifier(value) in _NAME_PARAMS:
            parent = chain[-1] if chain else ""
        else:
            parent = singular_phrase(identifier(re.sub(r"(?i)(_?id|_?name)$", "", value)))
        if parent and parent != entity and value in props:
            parents.append((value, parent))
    if key is not None and (key not in props or isinstance(props[key], dict) and props[key].get("enum")):
        key = None
    rpc = False
    if key is None and not parents and len(verb_words) > 1 and not tokens:
        # `relyingparty.getAccountInfo` on `POST /getAccountInfo`, a path that is the method's
        # name alone: the method acts on the account it names; the collection the id puts it in
        # (a relying party), which the path does not name, has no key and is no record.
        noun = verb_words[1:]
        while len(noun) > 1 and noun[0] in _NOUN_LEADS:
            noun = noun[1:]
        named, _ = _noun(noun)
        if named and named != entity:
            entity, verb_words, rpc = named, verb_words[:1], True
    if key is None and not rpc and verb_words[0] not in ("list", "create", "insert", "search", "aggregated"):
        key = key_param_for(entity, props, required)
    return ResourceRef(verb_words, entity, key, parents, False, "dotted", rpc)


def resource_ref(tool: Any, props: dict[str, Any], required: list[str]) -> ResourceRef | None:
    """The resource and verb from the operation id when the API is Google- or action-style."""
    operation_id = tool.original_name or ""
    path = tool.path or ""
    if is_action_api(path, operation_id):
        return _action_ref(operation_id, props, required)
    if DOTTED_OPERATION_ID.match(operation_id):
        return _dotted_ref(operation_id, path, props, required, dropped_path_params(tool))
    return None
