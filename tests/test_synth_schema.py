"""Entity/table inference, operation mapping and dependencies on small ToolDef fixtures."""

from __future__ import annotations

from typing import Any

import pytest

import synth.envs.draft as draft_module
from servers.executor import execute_tool
from servers.state import EnvRuntime, EpisodeStore
from synth.envs.dependencies import derive_dependencies
from synth.envs.draft import draft_envspec
from synth.envs.schema import infer_schema
from synth.envs.shapes import shape_tool
from synth.tooldef import ToolDef

STATUS = {"type": "string", "enum": ["pending", "shipped", "delivered", "cancelled"]}
ORDER = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "customerId": {"type": "string"},
        "status": STATUS,
        "total": {"type": "number"},
        "placed_at": {"type": "string", "format": "date-time"},
        "lines": {"type": "array", "items": {"type": "object"}},
    },
}
CUSTOMER = {"type": "object", "properties": {"customer_id": {"type": "string"}, "name": {"type": "string"},
                                             "email": {"type": "string"}, "vip": {"type": "boolean"}}}


def http(name: str, method: str, path: str, props: dict[str, Any], required: list[str] | None = None,
         returns: dict[str, Any] | None = None) -> ToolDef:
    return ToolDef(name=name, source="shop.yaml", api="Shop", method=method, path=path, format="openapi",
                   description=f"{name} tool", returns=returns,
                   parameters={"type": "object", "properties": props, "required": required or []})


def named(name: str, props: dict[str, Any], required: list[str] | None = None) -> ToolDef:
    return ToolDef(name=name, source="tools.json", api="Shop", format="openai", description=name,
                   parameters={"type": "object", "properties": props, "required": required or []})


S = {"type": "string"}
SHOP = [
    http("get_customer", "GET", "/customers/{customer_id}", {"customer_id": S}, ["customer_id"], CUSTOMER),
    http("list_orders", "GET", "/orders", {"customerId": S, "status": STATUS, "max_total": {"type": "number"},
                                           "limit": {"type": "integer"}}, [], {"type": "array", "items": ORDER}),
    http("get_order", "GET", "/orders/{orderId}", {"orderId": S}, ["orderId"], ORDER),
    http("create_order", "POST", "/orders", {"customerId": S, "total": {"type": "number"}}, ["customerId"], ORDER),
    http("update_order", "PATCH", "/orders/{orderId}", {"orderId": S, "total": {"type": "number"}}, ["orderId"], ORDER),
    http("cancel_order", "POST", "/orders/{orderId}/cancel", {"orderId": S}, ["orderId"], ORDER),
    http("delete_order", "DELETE", "/orders/{orderId}", {"orderId": S}, ["orderId"]),
    http("list_order_items", "GET", "/orders/{orderId}/items", {"orderId": S}, ["orderId"],
         {"type": "object", "properties": {"data": {"type": "array", "items": {
             "type": "object", "properties": {"sku": S, "quantity": {"type": "integer"}}}}}}),
    http("restart_order", "POST", "/orders/{orderId}/restart", {"orderId": S}, ["orderId"], ORDER),
]


def ops(spec) -> dict[str, Any]:
    return {t.name: t.operation for t in spec.tools}


def test_shapes_from_http_and_from_names():
    got = {t.name: (s.action, s.entity, s.key_param) for t in SHOP for s in [shape_tool(t)]}
    assert got["get_order"] == ("get", "order", "orderId")
    assert got["list_orders"] == ("find", "order", None)
    assert got["cancel_order"] == ("status", "order", "orderId")
    assert got["delete_order"] == ("delete", "order", "orderId")
    assert got["restart_order"] == ("action", "order", "orderId")
    assert shape_tool(SHOP[7]).parents == [("orderId", "order")]
    by_name = {n: shape_tool(named(n, {p: S for p in ps}, ps)) for n, ps in [
        ("get_booking", ["booking_id"]), ("search_flights", ["origin"]), ("book_hotel", ["hotel_id"]),
        ("cancel_booking", ["booking_id"]), ("delete_user", ["user_id"]), ("get_order_status", ["order_id"])]}
    assert (by_name["get_booking"].action, by_name["get_booking"].key_param) == ("get", "booking_id")
    assert (by_name["search_flights"].action, by_name["search_flights"].entity) == ("find", "flight")
    assert by_name["book_hotel"].action == "create"
    assert (by_name["cancel_booking"].action, by_name["cancel_booking"].status_target) == ("status", "cancelled")
    assert by_name["delete_user"].action == "delete"
    assert (by_name["get_order_status"].entity, by_name["get_order_status"].key_param) == ("order", "order_id")


def test_tables_keys_foreign_keys_and_enums():
    schema = infer_schema([shape_tool(t) for t in SHOP])
    orders, customers = schema.tables["order"], schema.tables["customer"]
    assert (orders.name, orders.primary_key, customers.primary_key) == ("orders", "order_id", "customer_id")
    assert orders.foreign_keys["customer_id"] == "customer"  # from the customerId property and param
    assert orders.columns["status"].type == "enum"
    assert orders.columns["status"].enum == STATUS["enum"]
    assert orders.columns["total"].type == "number"
    assert orders.columns["placed_at"].type == "date"
    assert "lines" not in orders.columns  # arrays are not columns
    assert orders.id_prefix and orders.id_prefix.endswith("-")
    items = schema.tables["order_item"]
    assert items.foreign_keys == {"order_id": "order"}
    assert {"sku", "quantity"} <= set(items.columns)
    assert "limit" not in orders.columns  # paging parameters are not entity attributes


def test_operation_mapping_per_kind():
    draft = draft_envspec("shop", "shop", SHOP, seed=1)
    assert draft.spec is not None and not draft.rejected
    o = ops(draft.spec)
    assert o["get_order"].kind == "get" and o["get_order"].key.arg == "orderId"
    find = o["list_orders"]
    assert find.kind == "find" and find.limit.arg == "limit"
    assert {(f.column, f.op) for f in find.filters} == {("customer_id", "eq"), ("status", "eq"), ("total", "le")}
    assert o["create_order"].kind == "insert" and o["create_order"].values["customer_id"].arg == "customerId"
    assert o["update_order"].kind == "update" and set(o["update_order"].set) == {"total"}
    cancel = o["cancel_order"]
    assert cancel.kind == "update" and cancel.set["status"].const == "cancelled"
    guarded = {p.value.const for p in cancel.preconditions}
    assert {"cancelled", "delivered"} <= guarded and "pending" not in guarded
    assert o["delete_order"].kind == "delete"
    assert o["restart_order"].kind == "sequence"
    tools = {t.name: t for t in draft.spec.tools}
    assert tools["delete_order"].annotations.destructiveHint is True
    assert tools["cancel_order"].annotations.destructiveHint is True
    assert tools["get_order"].annotations.readOnlyHint is True
    assert tools["create_order"].annotations.idempotentHint is False
    # Descriptions and argument names are the original tool's.
    assert tools["get_order"].description == "get_order tool"
    assert set(tools["list_orders"].input_schema["properties"]) == {"customerId", "status", "max_total", "limit"}


def test_dependencies_follow_ids():
    draft = draft_envspec("shop", "shop", SHOP, seed=1)
    deps = {(d.source, d.target, d.argument) for d in derive_dependencies(draft.spec)}
    assert ("list_orders", "get_order", "orderId") in deps
    assert ("create_order", "cancel_order", "orderId") in deps
    assert ("get_order", "get_customer", "customer_id") in deps  # through the customer_id foreign key
    assert ("get_order", "cancel_order", "orderId") not in deps  # it needs the order id itself
    assert {(d.source, d.target, d.argument) for d in draft.spec.dependencies} == deps


def test_seed_rows_are_referentially_consistent_and_deterministic():
    a = draft_envspec("shop", "shop", SHOP, seed=3).spec
    b = draft_envspec("shop", "shop", SHOP, seed=3).spec
    c = draft_envspec("shop", "shop", SHOP, seed=4).spec
    assert a.model_dump() == b.model_dump()
    assert a.seed.rows != c.seed.rows
    rows = a.seed.rows
    for table in a.tables:
        assert rows[table.name], f"{table.name} has no seed rows"
        for fk in table.foreign_keys:
            parents = {r[fk.ref_column] for r in rows[fk.ref_table]}
            for row in rows[table.name]:
                assert row[fk.column] is None or row[fk.column] in parents
    assert all(r["order_id"].startswith(a.table("orders").id_prefix) for r in rows["orders"])


def test_lookup_apis_chain_through_the_keys_they_name():
    from synth.envs.shapes import reconcile_shapes

    entry = {"type": "object", "properties": {"wordid": {"type": "integer"}, "lemma": S}}
    envelope = {"type": "object", "properties": {"entries": {"type": "array", "items": entry}, "startTime": S,
                                                 "endTime": S, "log": S, "processTime": S}}
    sense = {"type": "object", "properties": {"wordid": {"type": "integer"}, "synset": S}}
    wordnet = [
        http("wordbylemma", "GET", "/wordnet/word/bylemma", {"lemma": S}, ["lemma"], envelope),
        http("sensebywordid", "GET", "/wordnet/sense/bywordid", {"wordid": {"type": "integer"}}, ["wordid"],
             {"type": "object", "properties": {"entries": {"type": "array", "items": sense}, "startTime": S,
                                               "endTime": S, "log": S, "processTime": S}}),
    ]
    spec = draft_envspec("wordnet", "wordnet", wordnet, seed=1).spec
    words = spec.table("words")
    assert {"word_id", "lemma"} <= {c.name for c in words.columns}  # the entries, not the envelope
    assert ("wordbylemma", "sensebywordid", "wordid") in {(d.source, d.target, d.argument) for d in spec.dependencies}
    # A get's key parameter named after its entity (`airportCode`) is that entity's key elsewhere.
    lh = [
        http("Airports", "GET", "/references/airports/{airportCode}", {"airportCode": S}, ["airportCode"]),
        http("Nearest", "GET", "/references/airports/nearest/{latitude},{longitude}",
             {"latitude": {"type": "number"}, "longitude": {"type": "number"}}, ["latitude", "longitude"]),
        http("Arrivals", "GET", "/flightstatus/arrivals/{airportCode}/{fromDateTime}",
             {"airportCode": S, "fromDateTime": S}, ["airportCode", "fromDateTime"]),
    ]
    schema = infer_schema(reconcile_shapes([shape_tool(t) for t in lh]))
    assert schema.tables["arrival"].foreign_keys == {"airport_id": "airport"}
    spec = draft_envspec("lh", "lh", lh, seed=1).spec
    assert ("Nearest", "Arrivals", "airportCode") in {(d.source, d.target, d.argument) for d in spec.dependencies}


def test_noun_verb_rpc_reads_and_no_echo_edges():
    ckan = [
        http("organization_list", "GET", "/action/organization_list", {"limit": {"type": "integer"}}),
        http("organization_show", "GET", "/action/organization_show", {"id": S}),
        http("organization_activity_list", "GET", "/action/organization_activity_list", {"id": S}),
    ]
    spec = draft_envspec("ckan", "ckan", ckan, seed=1).spec
    assert {t.name for t in spec.tables} == {"organizations", "organization_activities"}
    deps = {(d.source, d.target, d.argument) for d in spec.dependencies}
    assert ("organization_list", "organization_show", "id") in deps
    assert ("organization_list", "organization_activity_list", "id") in deps
    # The activities carry the organization id only because the caller gave it: no source.
    assert not any(d.source == "organization_activity_list" for d in spec.dependencies)


def test_value_edges_come_from_described_values_not_from_echoed_filters():
    # Two reports that both take `fromdate`: one's rows carry it only because it was filtered on.
    reports = [
        http("clicks_report", "GET", "/reports/clicks", {"fromdate": S, "tag": S}),
        http("opens_report", "GET", "/reports/opens", {"fromdate": S, "tag": S}),
        http("bounce_report", "GET", "/reports/bounces", {"fromdate": S}),
    ]
    spec = draft_envspec("reports", "reports", reports, seed=1).spec
    assert spec is not None and spec.dependencies == []
    # A station list whose response describes each station's fare `zone`, and may be narrowed
    # by it: called without the filter, its rows carry zones the call found.
    zone = {"type": "integer"}
    station = {"type": "object", "properties": {"code": S, "zone": zone, "name": S}}
    stations = [
        http("list_stations", "GET", "/stations", {"zone": zone}, [], {"type": "array", "items": station}),
        http("zone_fares", "GET", "/fares", {"zone": zone, "day": S}, ["zone"]),
        http("zone_alerts", "GET", "/alerts", {"zone": zone}, ["zone"]),
    ]
    spec = draft_envspec("stations", "stations", stations, seed=1).spec
    deps = {(d.source, d.target, d.argument) for d in spec.dependencies}
    assert ("list_stations", "zone_fares", "zone") in deps
    # The fare rows carry the zone the caller gave: no hand-over from them.
    assert not any(d.source in ("zone_fares", "zone_alerts") for d in spec.dependencies)


def test_code_and_id_parameters_reference_the_entity_they_name():
    region = {"type": "object", "properties": {"id": S, "name": S}}
    category = {"type": "object", "properties": {"id": S, "title": S}}
    tools = [
        http("i18nRegions_list", "GET", "/i18nRegions", {"hl": S}, [], {"type": "array", "items": region}),
        http("videoCategories_list", "GET", "/videoCategories", {"regionCode": S}, ["regionCode"],
             {"type": "array", "items": category}),
        http("station_parking", "GET", "/parking", {"stationCode": S}, ["stationCode"]),
        http("list_stations", "GET", "/stations", {}, [], {"type": "array", "items": region}),
        http("line_trains", "GET", "/trains", {"lineCode": {"type": "string", "enum": ["RD", "BL"]}}, ["lineCode"]),
        http("list_lines", "GET", "/lines", {}, [], {"type": "array", "items": region}),
    ]
    spec = draft_envspec("transit", "transit", tools, seed=1).spec
    fks = {(t.name, fk.column, fk.ref_table) for t in spec.tables for fk in t.foreign_keys}
    # `regionCode` names the one entity ending in "region"; `stationCode` names a station.
    assert ("video_categories", "i18n_region_id", "i18n_regions") in fks
    assert any(table == "parkings" and ref == "stations" for table, _, ref in fks)
    # A code the spec enumerates keeps its own values: no re-keying to generated line ids.
    assert not any(ref == "lines" for _, _, ref in fks)
    deps = {(d.source, d.target) for d in spec.dependencies}
    assert ("i18nRegions_list", "videoCategories_list") in deps and ("list_stations", "station_parking") in deps


def test_run_together_listing_names_the_records_its_response_carries():
    """Netatmo's `GET /devicelist` answers `{body: {devices: [...], modules: [...]}, status}` and
    `GET /gethomedata` `{body: {homes: [...], user}}`: they list devices and homes, whose keys the
    other calls take; `getstationsdata`, answered with `devices`, stays a table of its own."""
    def envelope(**arrays):
        body = {"type": "object", "properties": {
            k: {"type": "array", "items": {"type": "object", "properties": v}} for k, v in arrays.items()}}
        return {"type": "object", "properties": {"body": body, "status": S, "time_exec": {"type": "number"}}}

    device = {"_id": S, "firmware": {"type": "integer"}}
    tools = [
        http("devicelist", "GET", "/devicelist", {"app_type": S}, [],
             envelope(devices=device, modules={"_id": S, "main_device": S})),
        http("gethomedata", "GET", "/gethomedata", {"size": {"type": "integer"}}, [],
             envelope(homes={"id": S, "name": S})),
        http("getstationsdata", "GET", "/getstationsdata", {}, [], envelope(devices=device)),
        http("getmeasure", "GET", "/getmeasure", {"device_id": S, "scale": S}, ["device_id", "scale"]),
        http("setpersonsaway", "GET", "/setpersonsaway", {"home_id": S}, ["home_id"]),
    ]
    shapes = {t.name: shape_tool(t) for t in tools}
    assert (shapes["devicelist"].action, shapes["devicelist"].entity) == ("find", "device")
    assert shapes["gethomedata"].entity == "home"
    assert shapes["getstationsdata"].entity == "stationsdata"
    spec = draft_envspec("netatmo", "netatmo", tools, seed=1).spec
    devices = spec.table("devices")
    assert devices.primary_key == "device_id" and "firmware" in {c.name for c in devices.columns}
    assert "main_device" not in {c.name for c in devices.columns}  # the modules' array is another record
    deps = {(d.source, d.target, d.argument) for d in spec.dependencies}
    assert ("devicelist", "getmeasure", "device_id") in deps and ("gethomedata", "setpersonsaway", "home_id") in deps
    runtime = EnvRuntime(spec)
    episode = EpisodeStore({spec.name: runtime}, max_live=1).create(spec.name)
    home = execute_tool(runtime, episode.conn, "gethomedata", {}).data["results"][0]["home_id"]
    away = execute_tool(runtime, episode.conn, "setpersonsaway", {"home_id": home})
    assert away.ok and away.data["results"]


def test_run_together_names_without_named_records_stay():
    """A `<noun>list` / `<noun>data` whose response names no array after the noun (`/playlist`
    answered with tracks, a get, a record with its own fields) keeps its name."""
    tracks = {"type": "object", "properties": {"tracks": {"type": "array", "items": {
        "type": "object", "properties": {"id": S}}}}}
    assert shape_tool(http("playlist", "GET", "/playlist", {}, [], tracks)).entity == "playlist"
    plays = {"type": "object", "properties": {"plays": {"type": "array", "items": S}}}
    assert shape_tool(http("playlist", "GET", "/playlist", {}, [], plays)).entity == "playlist"
    fields = {"type": "object", "properties": {"fields": {"type": "array", "items": {
        "type": "object", "properties": {"id": S}}}}}
    assert shape_tool(http("get_metadata", "GET", "/metadata", {}, [], fields)).entity == "metadata"
    homes = {"type": "object", "properties": {"homes": {"type": "array", "items": {
        "type": "object", "properties": {"id": S}}}}}
    # A read by key, and a create, are no listings.
    assert shape_tool(http("get_homedata", "GET", "/homedata/{id}", {"id": S}, ["id"], homes)).entity == "homedata"
    assert shape_tool(http("post_homedata", "POST", "/homedata", {"x": S}, [], homes)).entity == "homedata"


def test_a_parameter_whose_description_names_whose_key_it_holds_references_that_entity():
    language = {"type": "object", "properties": {"language": S, "name": S}}
    agency = {"type": "object", "properties": {"code": S, "name": S}}
    target = {"type": "string", "description": "The language to use, set to one of the language codes listed in Support."}
    tools = [
        http("languages_list", "GET", "/languages", {}, [], {"type": "array", "items": language}),
        http("translations_list", "GET", "/translations", {"q": S, "target": target}, ["q", "target"]),
        http("federal_agencies", "GET", "/lookups/federal_agencies", {}, [], {"type": "array", "items": agency}),
        http("facility_search", "GET", "/facilities", {
            "p_fa": {"type": "string", "description": "Federal agency code. Limits results to one agency."},
            "p_inst": {"type": "string", "description": "Cloud SQL instance ID. This does not include the language ID."},
            "p_flag": {"type": "boolean", "description": "Federal agency code required."},
        }),
    ]
    spec = draft_envspec("lookups", "lookups", tools, seed=1).spec
    fks = {(t.name, fk.column): fk.ref_table for t in spec.tables for fk in t.foreign_keys}
    assert fks[("translations", "target")] == "languages"
    assert fks[("facilities", "p_fa")] == "federal_agencies"
    # Only a description that opens with whose key it is counts; a boolean holds no key.
    assert ("facilities", "p_inst") not in fks and ("facilities", "p_flag") not in fks
    deps = {(d.source, d.target, d.argument) for d in spec.dependencies}
    assert ("languages_list", "translations_list", "target") in deps
    assert ("federal_agencies", "facility_search", "p_fa") in deps


def test_an_environment_whose_seed_breaks_a_rule_is_dropped_with_the_reason(monkeypatch):
    def dangling(spec, rows, rules):  # a seed rule that points a reference at no row
        for table in spec.tables:
            for fk in table.foreign_keys:
                for row in rows.get(table.name, []):
                    row[fk.column] = "NO-SUCH-ROW"
        return rows

    monkeypatch.setattr(draft_module, "apply_seed_rules", dangling)
    draft = draft_envspec("shop", "shop", SHOP, seed=1)
    assert draft.spec is None and draft.reason.startswith("invalid seed state:")


def test_untyped_arrays_and_diagnostic_arrays_do_not_hide_the_records() -> None:
    """eBay's `{merchandisedProducts: {items: {...}}, warnings: [...]}`: an array written without
    `type`, beside a warnings list, still lists products whose `epid` other calls look up."""
    from synth.envs.draft import draft_envspec
    from synth.ingest.openapi import load_openapi

    product = {"type": "object", "properties": {"epid": {"type": "string", "description": "The eBay product identifier of a product."},
                                                "title": {"type": "string"}}}
    listed = {"type": "object", "properties": {"merchandisedProducts": {"items": product},
                                               "warnings": {"type": "array", "items": {"type": "object", "properties": {"message": {"type": "string"}}}}}}
    spec = {"swagger": "2.0", "info": {"title": "Marketing", "version": "1"}, "paths": {
        "/merchandised_product": {"get": {"operationId": "getMerchandisedProducts", "parameters": [
            {"name": "category_id", "in": "query", "type": "string", "required": True}],
            "responses": {"200": {"description": "ok", "schema": listed}}}},
        "/merchandised_product/get_also_bought_products": {"get": {"operationId": "getAlsoBoughtByProduct", "parameters": [
            {"name": "epid", "in": "query", "type": "string", "description": "The eBay product identifier of a product."}],
            "responses": {"200": {"description": "ok", "schema": {"type": "object", "properties": {"products": {"items": product}}}}}}},
    }}
    tools = load_openapi(spec, "marketing.json").tools
    assert tools[0].returns["properties"]["merchandisedProducts"]["type"] == "array"  # type: ignore[index]
    draft = draft_envspec("marketing", "marketing", tools, seed=1)
    assert draft.spec is not None, draft.reason
    by_name = {t.name: t for t in draft.spec.tools}
    listed_table = draft.spec.table(by_name["getMerchandisedProducts"].operation.table)  # type: ignore[union-attr]
    assert {"epid", "title"} <= {c.name for c in listed_table.columns}
    assert "warnings" not in {c.name for c in listed_table.columns}
    # An identifier is matched whole (a product id `123` is not `1234`), so the id one call
    # lists is the value the other looks up.
    epid_filter = next(f for f in by_name["getAlsoBoughtByProduct"].operation.filters if f.column == "epid")  # type: ignore[union-attr]
    assert epid_filter.op == "eq"
    edges = {(d.source, d.target, d.argument) for d in draft.spec.dependencies}
    assert ("getMerchandisedProducts", "getAlsoBoughtByProduct", "epid") in edges


@pytest.mark.parametrize(("column", "description", "whole"), [
    ("airport_code", "", True),
    ("origin", "IATA code of the origin airport", True),
    ("epid", "", True),
    ("isbn", "", True),
    ("ref", "The unique identifier of the order", True),
    ("title", "Title of the book", False),
    ("city", "City name", False),
    ("query", "Code word to search for", False),
])
def test_identifier_filters_match_whole_values(column: str, description: str, whole: bool) -> None:
    from synth.envs.names import is_identifier

    assert is_identifier(column, description) is whole
