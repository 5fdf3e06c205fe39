"""Which parameters belong to the HTTP transport rather than to the API's data.

An API description lists everything a client must send: credentials (`key`, `Authorization`,
`oauth_token`), request signatures (`X-Amz-Signature`), output formatting (`prettyPrint`,
`alt=json`), field masks (`fields`), JSONP callbacks, upload protocols, quota and tracing
markers, API versions, and globals that every operation repeats. None of that is something a
user asks for or an environment stores, so ingest drops it and records why.

Decisions use the parameter's location first (headers and cookies are the request's envelope;
a path parameter names a resource and is kept, unless it only picks the response's serialization:
`/blacklist.{content_type}`, `/v{version}/{format}` "format of the response"), then the spec's
security schemes, then
name *and* description together: a query `key` described as an API key is a credential, a
query `key` "provided in the response of a /package call" is data, and a `callback` that is a
URL is data while a `callback` that wraps JSON in a function is JSONP.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Reasons, as recorded in report.json.
AUTH = "auth"
SIGNATURE = "signature"
FORMATTING = "formatting"
FIELD_MASK = "field_mask"
JSONP = "jsonp"
UPLOAD = "upload"
QUOTA = "quota"
TRACING = "tracing"
CONDITIONAL = "conditional"
API_VERSION = "api_version"
API_GLOBAL = "api_global"
HEADER = "header"

# Share of a spec's operations a parameter must appear on to count as an API-wide global.
GLOBAL_SHARE = 0.9
# A weak credential name (`key`, `token`) repeated on at least this share is a credential.
FREQUENT_SHARE = 0.5
# Fewer operations than this say nothing about what "every operation" repeats.
MIN_OPERATIONS_FOR_GLOBALS = 3

# Locations of an OpenAPI parameter, plus "argument" for sources without HTTP (OpenAI, BFCL, MCP).
ENVELOPE_LOCATIONS = frozenset({"header", "cookie"})
ARGUMENT = "argument"


def _flat(name: str) -> str:
    """`X-Amz-Signature` -> `xamzsignature`, `$.xgafv` -> `xgafv`: spelling-free comparison."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


# Names that are credentials wherever they appear outside a path or a request body.
_STRONG_AUTH = frozenset(map(_flat, (
    "api_key", "apikey", "x-api-key", "api-key", "access_token", "oauth_token", "bearer_token",
    "auth_token", "authtoken", "client_secret", "api_secret", "secret_key", "secretkey",
    "app_key", "appkey", "session_token", "id_token", "refresh_token_param", "subscription-key",
    "ocp-apim-subscription-key", "awsaccesskeyid", "api_token", "apitoken", "private_token",
    "private-token", "x-auth-token", "x-access-token", "authorization", "proxy-authorization",
)))
# Names that are credentials only when the spec or the description says so.
_WEAK_AUTH = frozenset(map(_flat, ("key", "token", "app_id", "appid", "client_id", "devid", "dev_id", "auth",
                                   "user_key", "userkey")))
_CREDENTIAL_TEXT = re.compile(
    r"api[ _-]?key|access[ _-]?(token|key)|auth(entication|entification|orization|enication)?\b|"
    r"\bauth[ _-]?token|oauth|bearer|credential|\bsecret\b|password|security key|application key|"
    r"\bapp(lication)? (id|key)\b|developer (id|key)|identifies your (project|application|app)|"
    r"\byour (api )?key\b|signature|on behalf of|impersonat",
    re.I,
)
_SIGNATURE_NAMES = frozenset(map(_flat, (
    "signature", "sig", "signature_method", "signaturemethod", "signature_version", "signatureversion",
    "x-amz-content-sha256", "content-md5", "digest", "hmac", "nonce", "tonce",
)))
# A `digest` or `nonce` in a query may be data (an image digest to look up): the text must say so.
_SIGNATURE_NEEDS_TEXT = frozenset({"digest", "hmac", "nonce"})
_PRETTY_NAMES = frozenset(map(_flat, ("prettyPrint", "pretty_print", "pretty", "pp", "indent")))
_FORMAT_NAMES = frozenset(map(_flat, (
    "format", "alt", "output", "$format", "response_format", "responseformat", "output_format", "outputformat",
    "response_type", "responsetype", "datatype", "data_type", "fmt", "f", "return_format", "content_type",
    "xgafv",
)))
# Serialization formats of a response (not the formats of the data itself: png, pdf, zip stay).
_SERIALIZATION = frozenset({
    "json", "jsonp", "xml", "csv", "tsv", "yaml", "yml", "html", "text", "txt", "plain", "atom", "rss",
    "geojson", "proto", "protobuf", "media", "php", "ruby", "python", "js", "javascript", "ndjson",
    "msgpack", "kml", "gpx", "jsonld", "json-ld", "pjson", "application/json", "application/xml",
    "text/xml", "text/csv", "text/html", "text/plain", "1", "2",
})
_FORMAT_TEXT = re.compile(
    r"(response|output|result|results|returned|return) (data )?(format|type)|"
    r"format (of|for) (the )?(response|result|results|output|returned|return)|"
    r"data format|output format|\bpretty[ -]?print|indent(ation|s|ing)?\b|\bline breaks\b|"
    r"error format",
    re.I,
)
# `filter` too, but only where the text says it trims the response (StackExchange's named filters).
_FIELD_MASK_NAMES = frozenset(map(_flat, ("fields", "$select", "select", "selected_fields", "selectedfields",
                                          "field_mask", "fieldmask", "fieldset", "only", "attributes", "filter")))
_FIELD_MASK_TEXT = re.compile(
    r"partial response|fields? to (include|return|retrieve|be returned)|"
    r"(include|included|returned|return) in the response|which fields|restrict\w* (the )?(returned )?fields|"
    r"limit (the )?(returned )?fields|list of\b.{0,40}\b(fields|attributes|properties)|"
    r"(fields|attributes|properties) (to|that will be) (be )?(returned|included)|selector specifying",
    re.I,
)
# What a response-trimming `filter` says (a `filter` that picks rows says "returned" too, so the
# field-mask text above is not enough for that name).
_RESPONSE_TRIM_TEXT = re.compile(
    r"exclude\w* (almost )?(every|some|any|the)? ?fields? returned|reduce \w* ?responses? to just the fields",
    re.I,
)
# A field *search* target (`fields=name,website` to search in) is a search option, not a mask.
_SEARCH_TEXT = re.compile(r"\bsearch(ed)?\b|\bfilter by\b|\bmatch(ed)?\b", re.I)
_JSONP_NAMES = frozenset(map(_flat, ("callback", "jsonp", "json_callback", "jsoncallback", "cb", "_callback")))
_JSONP_TEXT = re.compile(r"jsonp|json-p|javascript function|wrap(ped)? (in|the|into)|function name", re.I)
_URL_TEXT = re.compile(r"\b(url|uri|webhook|endpoint|address|https?://\S*callback)\b", re.I)
_UPLOAD_NAMES = frozenset(map(_flat, ("upload_protocol", "uploadType", "upload_type", "uploadprotocol")))
_QUOTA_NAMES = frozenset(map(_flat, ("quotaUser", "quota_user", "userIp", "user_ip", "userProject")))
_QUOTA_TEXT = re.compile(r"quota purposes|per-user limits|to be billed for this request", re.I)
_TRACING_NAMES = frozenset(map(_flat, (
    "user_agent", "useragent", "x-user-agent", "client-request-id", "return-client-request-id",
    "x-ms-client-request-id", "x-request-id", "request-id", "x-correlation-id", "correlation-id",
    "ocp-date", "x-github-request-id", "traceparent", "x-b3-traceid",
)))
_TRACING_PREFIXES = ("xratelimit", "ratelimit")
_VERSION_NAMES = frozenset(map(_flat, ("api-version", "api_version", "apiversion", "version", "x-api-version",
                                       "zuora-version", "accept-version")))
_VERSION_TEXT = re.compile(r"\b(api|client|service|protocol)\s+version\b|version of the (\S+ )*api\b|"
                           r"\bapi version\b", re.I)
_CONDITIONAL_NAMES = frozenset(map(_flat, ("if-match", "if-none-match", "if-non-match", "if-modified-since",
                                           "if-unmodified-since", "if-range", "range", "content-range",
                                           "ocp-range", "prefer", "cache-control", "pragma")))
_CONTENT_NAMES = frozenset(map(_flat, ("accept", "accept-language", "accept-encoding", "accept-charset",
                                       "content-type", "content-length", "content-encoding",
                                       "content-language", "x-github-media-type", "response-type")))
_TRANSPORT_TEXT = re.compile(
    r"\bversion\b|request (id|identifier)|correlation|\btrac(e|ing)\b|user[ -]agent|client identifier|"
    r"tenant|on behalf of|impersonat|\bquota\b|rate limit|\bjsonp\b|callback|credential|authenticat|"
    r"signature|pretty|\bformat\b|\bheader\b",
    re.I,
)


@dataclass(frozen=True)
class ParamFacts:
    """What ingest knows about one parameter when deciding whether it is transport."""

    name: str
    location: str
    description: str = ""
    schema: Mapping[str, Any] = field(default_factory=dict)
    # The operation's path template, for a path parameter (`/blacklist.{content_type}`).
    path: str = ""


@dataclass
class SpecFacts:
    """What a whole document says about its parameters: its credential parameter names and the
    parameters its operations all repeat."""

    # lower-cased names of apiKey security scheme parameters (their location does not matter:
    # some specs declare the scheme in a header and list it again as a query parameter)
    credential_names: frozenset[str] = frozenset()
    # (name, location) on >= GLOBAL_SHARE of the operations with one schema, and whether it is
    # one of the document's own global `parameters`
    repeated: frozenset[tuple[str, str]] = frozenset()
    declared: frozenset[tuple[str, str]] = frozenset()
    # (name, location) on >= FREQUENT_SHARE of the operations
    frequent: frozenset[tuple[str, str]] = frozenset()
    # names on >= FREQUENT_SHARE of the operations in whatever location (a signature sent in the
    # query of reads and in the form of writes)
    frequent_names: frozenset[str] = frozenset()


def schema_signature(facts: ParamFacts) -> str:
    """The part of a parameter's schema that makes two uses "the same parameter"."""
    schema = facts.schema
    return json.dumps([schema.get("type"), schema.get("format"), schema.get("enum")], sort_keys=True, default=str)


def spec_facts(
    operations: Iterable[list[ParamFacts]],
    credential_names: Iterable[str] = (),
    declared_globals: Iterable[tuple[str, str]] = (),
) -> SpecFacts:
    """Facts of one document from the parameters of each of its operations."""
    ops = list(operations)
    count = len(ops)
    uses: Counter[tuple[str, str]] = Counter()
    name_uses: Counter[str] = Counter()
    shapes: Counter[tuple[str, str, str]] = Counter()
    for params in ops:
        seen: set[tuple[str, str]] = set()
        for facts in params:
            key = (facts.name, facts.location)
            if key in seen:
                continue
            seen.add(key)
            uses[key] += 1
            shapes[(facts.name, facts.location, schema_signature(facts))] += 1
        name_uses.update({name for name, _ in seen})
    repeated: set[tuple[str, str]] = set()
    frequent: set[tuple[str, str]] = set()
    frequent_names: set[str] = set()
    if count >= MIN_OPERATIONS_FOR_GLOBALS:
        for (name, location, _sig), n in shapes.items():
            if n >= GLOBAL_SHARE * count:
                repeated.add((name, location))
        frequent = {key for key, n in uses.items() if n >= FREQUENT_SHARE * count}
        frequent_names = {name for name, n in name_uses.items() if n >= FREQUENT_SHARE * count}
    return SpecFacts(
        credential_names=frozenset(name.lower() for name in credential_names),
        repeated=frozenset(repeated),
        declared=frozenset(declared_globals),
        frequent=frozenset(frequent),
        frequent_names=frozenset(frequent_names),
    )


def _enum_values(schema: Mapping[str, Any]) -> list[str] | None:
    enum = schema.get("enum")
    if not isinstance(enum, list) or not enum:
        items = schema.get("items")
        enum = items.get("enum") if isinstance(items, Mapping) else None
        if not isinstance(enum, list) or not enum:
            return None
    return [str(value).strip().lower() for value in enum]


def _serialization_enum(facts: ParamFacts) -> bool:
    """Every allowed value is a response serialization (`json`, `xml`, `media`; `$.xgafv`'s 1/2)."""
    values = _enum_values(facts.schema)
    if not values or not all(value in _SERIALIZATION for value in values):
        return False
    return not all(value.isdigit() for value in values) or _flat(facts.name) == "xgafv"


# What a file or media extension's description says (`/media/{key}.{extension}`, "the preview
# format, e.g. png"): the extension of a resource, not the serialization of a response.
_FILE_TEXT = re.compile(r"\b(files?|image|media|thumbnail|preview|download|extension|attachment)\b", re.I)


def _format_suffix(facts: ParamFacts) -> bool:
    """The parameter follows a dot inside its path segment: `/blacklist.{content_type}`,
    `/collection/{collection_id}.{content_type}`, `/names/{nameId}.{outputFormat}`."""
    return f".{{{facts.name}}}" in facts.path


def _format_path_parameter(facts: ParamFacts) -> bool:
    """A path parameter that picks the response's serialization rather than naming a resource.

    Anywhere in the path: a format name with a serialization enum (`{format}` of json/jsonp), or
    with no enum and a description that says it formats the response (`/v{version}/{format}`,
    "format of the response"); an enum of other formats is the data's own (`/render/{format}`
    of svg or png). As a dotted suffix a format name needs less: the description alone
    (`/addresses.{outputFormat}`, "Results format"), or nothing that says otherwise (Semantria's
    bare `.{content_type}`). A file or media extension (`/media/{key}.{extension}`,
    `/thumbnail.{EXTENSION}` of png or jpg) and a name that is no format
    (`/compare/{base}...{head}`) stay.
    """
    format_name = _flat(facts.name) in _FORMAT_NAMES
    said = bool(_FORMAT_TEXT.search(facts.description))
    if format_name and _serialization_enum(facts):
        return True
    if not _format_suffix(facts):
        return format_name and said and _enum_values(facts.schema) is None
    if _serialization_enum(facts):
        return True
    return format_name and (
        said or (_enum_values(facts.schema) is None and not _FILE_TEXT.search(facts.description))
    )


def _kind(facts: ParamFacts) -> Any:
    return facts.schema.get("type")


def _credential(facts: ParamFacts, spec: SpecFacts, *, loose: bool) -> bool:
    flat = _flat(facts.name)
    if facts.name.lower() in spec.credential_names or flat in _STRONG_AUTH:
        return True
    if flat.startswith("xamz") and flat.endswith("securitytoken"):
        return True
    described = bool(_CREDENTIAL_TEXT.search(facts.description))
    if flat in _WEAK_AUTH:
        return described or (loose and (facts.name, facts.location) in spec.frequent)
    # `vestorly-auth`, `X-Postmark-Server-Token`: a credential word ends the name, the text confirms it.
    return described and flat.endswith(("token", "key", "secret", "auth"))


def _named_reason(facts: ParamFacts, spec: SpecFacts, *, loose: bool) -> str | None:
    """The reason a parameter is transport, from its name, description and schema.

    `loose` (query parameters, headers) lets a telling name decide alone; without it (function
    arguments, whose names are free) the description or the schema must confirm.
    """
    flat = _flat(facts.name)
    text = facts.description
    if flat.startswith("xamz") and not flat.endswith("securitytoken"):
        return SIGNATURE
    if flat in _SIGNATURE_NAMES and (
        (loose and flat not in _SIGNATURE_NEEDS_TEXT) or re.search(r"signature|signed|signing|hmac|replay", text, re.I)
    ):
        return SIGNATURE
    if _credential(facts, spec, loose=loose):
        return AUTH
    if flat in _UPLOAD_NAMES:
        return UPLOAD
    if (flat in _QUOTA_NAMES and loose) or _QUOTA_TEXT.search(text):
        return QUOTA
    # EPA ECHO's `p_pretty_print` (a number flag) carries its API's `p_` prefix.
    if (flat in _PRETTY_NAMES or flat.endswith("prettyprint")) and _kind(facts) in (None, "boolean", "integer", "number") \
            and (loose or _FORMAT_TEXT.search(text)):
        return FORMATTING
    if flat in _FORMAT_NAMES and (
        (loose and _serialization_enum(facts)) or _FORMAT_TEXT.search(text)
    ):
        return FORMATTING
    # A callback *URL* (a webhook) is data; a function name to wrap JSON in is JSONP.
    if flat in _JSONP_NAMES and _kind(facts) in (None, "string") and (
        _JSONP_TEXT.search(text) or (loose and flat != "cb" and not _URL_TEXT.search(text))
    ):
        return JSONP
    if flat == "filter":
        return FIELD_MASK if _RESPONSE_TRIM_TEXT.search(text) else None
    if flat in _FIELD_MASK_NAMES and _kind(facts) in (None, "string", "array"):
        if (_FIELD_MASK_TEXT.search(text) or _RESPONSE_TRIM_TEXT.search(text)) and not _SEARCH_TEXT.search(text):
            return FIELD_MASK
        if loose and flat in ("fields", "select", "selectedfields", "fieldmask") and not _SEARCH_TEXT.search(text):
            return FIELD_MASK
    if flat in _VERSION_NAMES and (
        _VERSION_TEXT.search(text) or (loose and (flat != "version" or (facts.name, facts.location) in spec.repeated))
    ):
        return API_VERSION
    if loose and (flat in _TRACING_NAMES or flat.startswith(_TRACING_PREFIXES)):
        return TRACING
    return None


def _header_reason(facts: ParamFacts) -> str:
    """Why a header or cookie is transport: every one is (they are the request's envelope), this
    only names the kind."""
    flat = _flat(facts.name)
    if facts.location == "cookie":
        return AUTH
    if flat in _CONDITIONAL_NAMES:
        return CONDITIONAL
    if flat in _CONTENT_NAMES:
        return FORMATTING
    if flat in ("date", "xdate") or flat.startswith(("xrequest", "xcorrelation", "xtrace")):
        return TRACING
    if re.search(r"token|key|secret|auth|password|session|credential", flat) or _CREDENTIAL_TEXT.search(
        facts.description
    ):
        return AUTH
    return HEADER


def transport_reason(facts: ParamFacts, spec: SpecFacts | None = None) -> str | None:
    """Why `facts` is a transport, auth or formatting parameter, or None when it is API data.

    Path parameters name resources and are kept (a `{format}` path or `.{content_type}` suffix
    choosing JSON or XML aside);
    request-body fields are data unless they are the spec's own credentials; headers and cookies
    always belong to the envelope; function arguments (`location="argument"`) need their
    description to confirm what their name suggests.
    """
    spec = spec or SpecFacts()
    location = facts.location
    if location == "path":
        return FORMATTING if _format_path_parameter(facts) else None
    if location == "body":
        return AUTH if facts.name.lower() in spec.credential_names else None
    if location == "formData":
        # Form fields are the body: only a credential the whole API repeats is transport
        # (OAuth token endpoints take `client_secret` as their data).
        key = (facts.name, location)
        repeated = (
            facts.name.lower() in spec.credential_names
            or key in spec.frequent
            or key in spec.repeated
            or facts.name in spec.frequent_names
        )
        if repeated and _credential(facts, spec, loose=False):
            return AUTH
        if repeated and _named_reason(facts, spec, loose=True) == SIGNATURE:
            return SIGNATURE
        return None
    if location == ARGUMENT:
        return _named_reason(facts, spec, loose=False)
    named = _named_reason(facts, spec, loose=True)
    if location in ENVELOPE_LOCATIONS:
        kind = named or _header_reason(facts)
        if kind == HEADER and (facts.name, location) in spec.repeated:
            return API_GLOBAL
        return kind
    if named is not None:
        return named
    key = (facts.name, location)
    if key in spec.repeated and (
        _TRANSPORT_TEXT.search(facts.description) or (not facts.description.strip() and key in spec.declared)
    ):
        return API_GLOBAL
    return None


def drop_transport_properties(
    parameters: dict[str, Any],
    locations: Mapping[str, str] | None = None,
    spec: SpecFacts | None = None,
    default_location: str = ARGUMENT,
) -> tuple[dict[str, Any], dict[str, str]]:
    """An object schema without its transport properties, and {dropped name: reason}.

    For tool sources that list arguments rather than HTTP parameters (OpenAI, BFCL, MCP,
    ToolBench): `locations` says where a property travels when the source knows (ToolBench's URL
    template), `default_location` otherwise. The schema is returned as is when nothing is dropped.
    """
    props = parameters.get("properties")
    if not isinstance(props, dict) or not props:
        return parameters, {}
    dropped: dict[str, str] = {}
    for name, schema in props.items():
        if not isinstance(schema, dict):
            continue
        description = schema.get("description") if isinstance(schema.get("description"), str) else ""
        location = (locations or {}).get(name, default_location)
        reason = transport_reason(ParamFacts(str(name), location, description, schema), spec)
        if reason is not None:
            dropped[str(name)] = reason
    if not dropped:
        return parameters, {}
    out = dict(parameters)
    out["properties"] = {name: schema for name, schema in props.items() if name not in dropped}
    if isinstance(parameters.get("required"), list):
        out["required"] = [name for name in parameters["required"] if name not in dropped]
        if not out["required"]:
            del out["required"]
    return out, dropped
