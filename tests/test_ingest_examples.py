"""Response schemas inferred from response examples (synth.ingest.examples) when a spec declares
none: WMATA's XML and JSON examples, ShipStation's JSON ones, OpenAPI 3 `example(s)`."""

from __future__ import annotations

from typing import Any

from synth.envs.draft import draft_envspec
from synth.ingest.examples import example_schema
from synth.ingest.openapi import load_openapi
from synth.ingest.summary import ingest_summary

_LINES_XML = """<LinesResp xmlns="http://www.wmata.com" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
    <Lines>
        <Line><DisplayName>Green</DisplayName><EndStationCode>E10</EndStationCode>
              <InternalDestination1/><LineCode>GR</LineCode><StartStationCode>F11</StartStationCode></Line>
        <Line><DisplayName>Red</DisplayName><EndStationCode>B11</EndStationCode>
              <InternalDestination1>A11</InternalDestination1><LineCode>RD</LineCode>
              <StartStationCode>A15</StartStationCode></Line>
    </Lines>
</LinesResp>"""


def test_xml_example_reads_as_the_json_its_api_serves() -> None:
    schema = example_schema({"description": "ok", "examples": {"application/xml": _LINES_XML}}, is_v2=True)
    assert schema is not None
    # The root element is the envelope; a parent of one repeated tag is a list.
    lines = schema["properties"]["Lines"]
    assert lines["type"] == "array"
    line = lines["items"]["properties"]
    assert set(line) == {"DisplayName", "EndStationCode", "InternalDestination1", "LineCode", "StartStationCode"}
    assert line["EndStationCode"]["type"] == "string"
    # An element seen empty once and filled once is a string, not a null.
    assert line["InternalDestination1"]["type"] == "string"
    assert "required" not in lines["items"]


def test_xml_leaves_are_typed_like_their_json_twins() -> None:
    xml = ("<R><Items><Item><SeqNum>1</SeqNum><Miles>25.41</Miles><Zip>02134</Zip><Open>true</Open></Item>"
           "</Items></R>")
    schema = example_schema({"examples": {"text/xml": xml}}, is_v2=True)
    assert schema is not None
    item = schema["properties"]["Items"]["items"]["properties"]  # `Items` named for `Item`: a list of one
    assert {k: v["type"] for k, v in item.items()} == {
        "SeqNum": "integer", "Miles": "number", "Zip": "string", "Open": "boolean"}


def test_json_example_wins_over_xml_and_images_are_no_records() -> None:
    response = {"examples": {
        "application/xml": "<R><a>1</a></R>",
        "application/json": [{"tagId": 8362, "name": "Backorder", "color": None}],
        "image/png": "iVBORw0KGgo="}}
    schema = example_schema(response, is_v2=True)
    assert schema == {"type": "array", "items": {"type": "object", "properties": {
        "tagId": {"type": "integer"}, "name": {"type": "string"}, "color": {"type": "string"}}}}
    assert example_schema({"examples": {"image/png": "iVBORw0KGgo="}}, is_v2=True) is None
    assert example_schema({"examples": {"application/json": "not json {"}}, is_v2=True) is None
    assert example_schema({"examples": {"application/xml": "<unclosed>"}}, is_v2=True) is None


def test_openapi3_example_and_named_examples() -> None:
    single = {"content": {"application/json": {"example": {"job_id": "j-1", "status": "queued"}}}}
    named = {"content": {"application/json": {"examples": {"first": {"value": {"job_id": "j-1"}}}}}}
    assert set(example_schema(single, is_v2=False)["properties"]) == {"job_id", "status"}  # type: ignore[index]
    assert set(example_schema(named, is_v2=False)["properties"]) == {"job_id"}  # type: ignore[index]


def _stations_spec(with_schema: bool = False) -> dict[str, Any]:
    """WMATA's rail shape: station details shown only by example, an entrance search near a point."""
    station: dict[str, Any] = {"description": "ok", "examples": {"application/xml": (
        "<Station><Code>A01</Code><Name>Metro Center</Name><Lat>38.898303</Lat><Lon>-77.028099</Lon>"
        "</Station>")}}
    if with_schema:
        station["schema"] = {"type": "object", "properties": {"Name": {"type": "string"}}}
    entrances = {"description": "ok", "examples": {"application/json": {"Entrances": [
        {"Name": "NORTHEAST CORNER", "Lat": 38.89, "Lon": -77.02, "StationCode1": "A01"}]}}}
    point = [{"name": name, "in": "query", "type": "number", "required": True, "description": f"Center point {name}"}
             for name in ("Lat", "Lon")]
    return {
        "swagger": "2.0", "info": {"title": "Rail", "version": "1.0"},
        "paths": {
            "/Station": {"get": {"operationId": "Station_Information", "summary": "Details of a station",
                                 "parameters": [{"name": "StationName", "in": "query", "type": "string",
                                                 "required": True}],
                                 "responses": {"200": station}}},
            "/Entrances": {"get": {"operationId": "Station_Entrances", "summary": "Station entrances near a point",
                                   "parameters": [*point, {"name": "Radius", "in": "query", "type": "number"}],
                                   "responses": {"200": entrances}}},
        },
    }


def test_declared_schema_wins_and_the_summary_counts_inferred_ones() -> None:
    tools = {t.name: t for t in load_openapi(_stations_spec(with_schema=True), "rail.json").tools}
    assert not tools["Station_Information"].returns_from_example
    assert set(tools["Station_Information"].returns["properties"]) == {"Name"}  # type: ignore[index]
    assert tools["Station_Entrances"].returns_from_example
    assert ingest_summary(list(tools.values()))["responses_from_examples"] == 1


def _edges(spec: dict[str, Any]) -> set[tuple[str, str, str]]:
    draft = draft_envspec("rail", "rail", load_openapi(spec, "rail.json").tools, seed=1)
    assert draft.spec is not None, draft.reason
    return {(d.source, d.target, d.argument) for d in draft.spec.dependencies}


def test_a_value_shown_by_example_links_two_calls() -> None:
    """A station's coordinates, shown only by example, are where the entrance search looks."""
    assert {("Station_Information", "Station_Entrances", "Lat"),
            ("Station_Information", "Station_Entrances", "Lon")} <= _edges(_stations_spec())
    # The same spec with its examples removed describes no response: no call finds a point.
    bare = _stations_spec()
    for operation in bare["paths"].values():
        operation["get"]["responses"]["200"].pop("examples")
    assert _edges(bare) == set()


def test_a_one_value_enum_of_an_id_or_number_is_a_sample_not_a_rule() -> None:
    """WMATA writes its docs' sample values as one-value enums; a word constant stays an enum."""
    spec = {"swagger": "2.0", "info": {"title": "Bus", "version": "1.0"}, "paths": {"/Schedule": {"get": {
        "operationId": "Schedule", "responses": {"200": {"description": "ok"}},
        "parameters": [
            {"name": "RouteID", "in": "query", "type": "string", "enum": ["B30"]},
            {"name": "Lon", "in": "query", "type": "string", "enum": ["-76.989626"]},
            {"name": "kind", "in": "query", "type": "string", "enum": ["bus"]},
            {"name": "StationCode", "in": "query", "type": "string", "enum": ["E08", "F06"]}]}}}}
    props = load_openapi(spec, "bus.json").tools[0].parameters["properties"]
    assert props["RouteID"] == {"type": "string", "examples": ["B30"]}
    assert props["Lon"] == {"type": "string", "examples": ["-76.989626"]}
    assert props["kind"]["enum"] == ["bus"]
    assert props["StationCode"]["enum"] == ["E08", "F06"]  # two stated values are a rule


def test_twins_of_one_operation_hand_nothing_to_each_other() -> None:
    """WMATA serves each read as XML and as JSON (`/Outages`, `/json/jOutages`): the two are one
    call, so the JSON twin is no source for its XML twin's filter, as a tool is none for itself;
    a listing that is another operation still feeds the filter."""
    outage = {"description": "ok", "examples": {"application/json": {"Outages": [
        {"StationCode": "A01", "UnitName": "A01E02"}]}}}
    station = [{"name": "StationCode", "in": "query", "type": "string", "description": "Station code."}]

    def spec(with_listing: bool) -> dict[str, Any]:
        paths: dict[str, Any] = {
            "/Outages": {"get": {"operationId": "XML_Outages", "parameters": station, "responses": {"200": outage}}},
            "/json/jOutages": {"get": {"operationId": "JSON_Outages", "parameters": station,
                                       "responses": {"200": outage}}},
            "/Lines": {"get": {"operationId": "Lines", "responses": {"200": {"description": "ok"}}}},
        }
        if with_listing:
            paths["/AllOutages"] = {"get": {"operationId": "All_Outages", "responses": {"200": outage}}}
        return {"swagger": "2.0", "info": {"title": "Rail", "version": "1.0"}, "paths": paths}

    assert _edges(spec(False)) == set()
    assert ("All_Outages", "XML_Outages", "StationCode") in _edges(spec(True))
