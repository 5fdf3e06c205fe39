"""Response schemas from response examples, for operations that show what they return instead of
declaring it.

WMATA's rail API gives `/Lines` no schema but an XML example (`<LinesResp><Lines><Line>
<LineCode>GR</LineCode><EndStationCode>E10</EndStationCode>...`); ShipStation's `/accounts/listtags`
gives a JSON one (`[{"tagId": 8362, "name": "Backorder", "color": "#800080"}]`). An example is the
API's own account of its response, so its fields become the response's properties: without them the
tool's result would only echo its arguments, and no other call could take a value from it.
genson infers the JSON Schema (types merged across list items); XML is first read into the JSON
shape its API would serve (`<Lines><Line/><Line/></Lines>` is a list of lines).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree
from typing import Any

from genson import SchemaBuilder

_JSON_MEDIA = re.compile(r"json", re.IGNORECASE)
_XML_MEDIA = re.compile(r"xml", re.IGNORECASE)
_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?")


def example_schema(response: dict[str, Any], is_v2: bool) -> dict[str, Any] | None:
    """The JSON Schema of the response's example (JSON preferred over XML), or None when it has
    none that reads as a record, a list or a value."""
    for value in _payloads(response, is_v2):
        schema = _schema_of(value)
        if schema is not None:
            return schema
    return None


def _payloads(response: dict[str, Any], is_v2: bool) -> list[Any]:
    """The example payloads by media type, JSON first, then XML; other media (images) are not
    records."""
    by_media: dict[str, Any] = {}
    if is_v2 and isinstance(response.get("examples"), dict):
        by_media.update(response["examples"])
    content = response.get("content")
    if not is_v2 and isinstance(content, dict):
        for media, entry in content.items():
            if not isinstance(entry, dict):
                continue
            if entry.get("example") is not None:
                by_media[media] = entry["example"]
            elif isinstance(entry.get("examples"), dict):
                named = [e.get("value") for e in entry["examples"].values() if isinstance(e, dict)]
                if named and named[0] is not None:
                    by_media[media] = named[0]
    payloads = []
    for media in sorted(by_media, key=lambda m: (not _JSON_MEDIA.search(str(m)), str(m))):
        value = by_media[media]
        if _JSON_MEDIA.search(str(media)):
            payloads.append(_json_value(value))
        elif _XML_MEDIA.search(str(media)) and isinstance(value, str):
            payloads.append(_xml_value(value))
    return [p for p in payloads if p is not None]


def _json_value(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None


def _xml_value(text: str) -> Any:
    """The XML document as the JSON its API would serve: the root element is the envelope
    (`LinesResp`), so its content is the response."""
    try:
        root = ElementTree.fromstring(text.strip())
    except ElementTree.ParseError:
        return None
    children = list(root)
    if not children:
        return None
    return _record(children)


def _local(tag: str) -> str:
    """`{http://www.wmata.com}Line` -> `Line`."""
    return tag.rsplit("}", 1)[-1]


def _element_value(element: ElementTree.Element) -> Any:
    children = list(element)
    if not children:
        return _scalar(element.text or "")
    tags = [_local(child.tag) for child in children]
    # `<Lines><Line/><Line/></Lines>`: a parent holding one repeated tag is a list, even with a
    # single child when the parent is named for it (`<Path><MetroPathItem/></Path>` is not).
    if len(set(tags)) == 1 and (len(tags) > 1 or _local(element.tag).lower().startswith(tags[0].lower())):
        return [_element_value(child) for child in children]
    return _record(children)


def _record(children: list[ElementTree.Element]) -> dict[str, Any]:
    """Child elements as fields; a tag seen twice is a list."""
    record: dict[str, Any] = {}
    for child in children:
        tag, value = _local(child.tag), _element_value(child)
        if tag in record:
            record[tag] = (record[tag] if isinstance(record[tag], list) else [record[tag]]) + [value]
        else:
            record[tag] = value
    return record


def _scalar(text: str) -> Any:
    """XML text typed as its JSON twin would be: `25.41` a number, `true` a boolean, `E10` and
    `02134` strings (a leading zero is part of a code)."""
    text = text.strip()
    if _NUMBER.fullmatch(text):
        return float(text) if "." in text else int(text)
    if text in ("true", "false"):
        return text == "true"
    return text


def _schema_of(value: Any) -> dict[str, Any] | None:
    if value is None or value == {} or value == []:
        return None
    builder = SchemaBuilder()
    builder.add_object(value)
    schema = builder.to_schema()
    schema.pop("$schema", None)
    return _without_nulls(schema)


def _without_nulls(schema: Any) -> Any:
    """An example's `null` says the field was empty that time, not that it is always null: keep
    the other types, and a field only ever seen empty is a string."""
    if isinstance(schema, dict):
        out = {k: _without_nulls(v) for k, v in schema.items() if not (k == "required" and isinstance(v, list))}
        kind = out.get("type")
        if kind == "null":
            out["type"] = "string"
        elif isinstance(kind, list):
            kept = [k for k in kind if k != "null"] or ["string"]
            out["type"] = kept[0] if len(kept) == 1 else kept
        if "anyOf" in out:
            options = [o for o in out["anyOf"] if o.get("type") != "null"]
            out.pop("anyOf")
            if len(options) == 1:
                out.update(options[0])
            elif options:
                out["anyOf"] = options
        return out
    if isinstance(schema, list):
        return [_without_nulls(v) for v in schema]
    return schema
