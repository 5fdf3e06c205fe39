"""Resource models from paths and operation ids, update/delete never as inserts, the round-trip
gate on a small real spec (tests/data/posty-api.json, from the APIs.guru collection, CC0) and
child-belongs-to-parent enforcement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from servers.executor import execute_tool
from servers.spec import parse_envspec
from servers.state import EnvRuntime, EpisodeStore
from synth.envs.draft import draft_envspec
from synth.envs.fidelity import (
    build_counts,
    is_verb_named,
    name_verb,
    noun_words,
    verb_named_tables,
    write_named_inserts,
)
from synth.envs.quality_gate import run_gate
from synth.envs.resources import is_action_api
from synth.envs.shapes import shape_tool
from synth.envs.states import description_rule
from synth.ingest import ingest_paths
from synth.tooldef import ToolDef

POSTY = Path(__file__).parent / "data" / "posty-api.json"
S = {"type": "string"}


def op(operation_id: str, method: str, path: str, props: dict[str, Any], required: list[str] | None = None,
       returns: dict[str, Any] | None = None) -> ToolDef:
    return ToolDef(name=operation_id.replace(".", "_"), original_name=operation_id, source="api.json", api="API",
                   method=method, path=path, format="openapi", returns=returns,
                   parameters={"type": "object", "properties": props, "required": required or []})


def shape(tool: ToolDef) -> tuple[str, str, str | None, list[tuple[str, str]]]:
    s = shape_tool(tool)
    assert s.problem is None, s.problem
    return s.action, s.entity, s.key_param, s.parents


def test_google_style_operation_ids_name_the_resource_and_verb() -> None:
    assert shape(op("ml.projects.jobs.get", "GET", "/v1/{name}", {"name": S}, ["name"])) == \
        ("get", "job", "name", [])
    assert shape(op("ml.projects.jobs.create", "POST", "/v1/{parent}/jobs", {"parent": S, "jobId": S}, ["parent"])) \
        == ("create", "job", None, [("parent", "project")])
    assert shape(op("ml.projects.jobs.list", "GET", "/v1/{parent}/jobs", {"parent": S, "pageSize": {"type": "integer"}},
                    ["parent"])) == ("find", "job", None, [("parent", "project")])
    assert shape(op("ml.projects.models.versions.patch", "PATCH", "/v1/{name}", {"name": S, "description": S},
                    ["name"]))[:3] == ("update", "version", "name")
    assert shape(op("ml.projects.operations.delete", "DELETE", "/v1/{name}", {"name": S}, ["name"]))[:3] == \
        ("delete", "operation", "name")
    cancel = shape_tool(op("ml.projects.jobs.cancel", "POST", "/v1/{name}:cancel", {"name": S}, ["name"]))
    assert (cancel.action, cancel.entity, cancel.key_param, cancel.status_target) == ("status", "job", "name", "cancelled")
    # A Google API with REST paths: the key in the query (`?id=`) still makes a patch an update.
    patch = op("dfareporting.accounts.patch", "PATCH", "/userprofiles/{profileId}/accounts",
               {"profileId": S, "id": S, "name": S}, ["profileId", "id"])
    assert shape(patch) == ("update", "account", "id", [("profileId", "userprofile")])


def test_action_apis_read_verb_and_noun_from_the_operation_name() -> None:
    body = {"Name": S, "ChangeToken": S}
    assert shape(op("CreateIPSet", "POST", "/#CreateIPSet", body, ["Name"]))[:3] == ("create", "ip_set", None)
    assert shape(op("GetIPSet", "POST", "/#GetIPSet", {"IPSetId": S}, ["IPSetId"]))[:3] == ("get", "ip_set", "IPSetId")
    assert shape(op("ListIPSets", "POST", "/#ListIPSets", {"Limit": {"type": "integer"}}))[:2] == ("find", "ip_set")
    assert shape(op("UpdateIPSet", "POST", "/#UpdateIPSet", {"IPSetId": S, "Updates": S}, ["IPSetId"]))[:3] == \
        ("update", "ip_set", "IPSetId")
    assert shape(op("DeleteIPSet", "POST", "/", {"IPSetId": S, "ChangeToken": S}, ["IPSetId"]))[:3] == \
        ("delete", "ip_set", "IPSetId")
    assert shape(op("DescribeDBInstances", "POST", "/?Action=DescribeDBInstances",
                    {"DBInstanceIdentifier": S}))[:2] == ("find", "db_instance")
    assert shape(op("BatchGetBuilds", "POST", "/#BatchGetBuilds", {"ids": S}, ["ids"]))[1] == "build"


def test_rest_nested_paths_give_parents_and_verb_led_literals_are_split() -> None:
    assert shape(op("removeItem", "DELETE", "/orders/{orderId}/items/{itemId}", {"orderId": S, "itemId": S},
                    ["orderId", "itemId"])) == ("delete", "item", "itemId", [("orderId", "order")])
    assert shape(op("search_airports", "GET", "/search_airports", {"q": S}))[:2] == ("find", "airport")
    assert shape(op("Home_Get", "GET", "/", {}))[:2] == ("find", "home")


def test_tables_are_nouns_never_verbs() -> None:
    assert shape(op("getArticleByCoreId", "GET", "/articles/get/{coreId}", {"coreId": S}, ["coreId"]))[:2] == \
        ("get", "article")
    assert shape(op("get_chat_delete", "GET", "/chat.delete", {}))[1] == "chat"
    assert shape(op("GetObject", "GET", "/{Bucket}/{Key}#GetObject", {"Bucket": S, "Key": S},
                    ["Bucket", "Key"]))[1] == "object"
    assert shape(op("RequestCancelWorkflowExecution", "POST", "/#RequestCancelWorkflowExecution",
                    {"workflowId": S}, ["workflowId"]))[1] == "workflow_execution"
    # A verb literal between resources names neither the record nor its parent.
    pdf = shape(op("getArticlePdfByCoreId", "GET", "/articles/get/{coreId}/download/pdf", {"coreId": S}, ["coreId"]))
    assert pdf[1] == "pdf" and pdf[3] == [("coreId", "article")]
    added = shape(op("addToGroup", "POST", "/contacts/{contactId}/addToGroup/{groupId}",
                     {"contactId": S, "groupId": S}, ["contactId", "groupId"]))
    assert added[1] == "group" and not is_verb_named(added[1])


def test_selector_literals_name_no_resource() -> None:
    """`/dweet/for/{thing}` reads a dweet by thing, `/company/id/{id}` a company: `for` and `id`
    say how the record is selected (they were tables `fors` and `ids`)."""
    assert shape(op("getLatestDweet", "GET", "/get/latest/dweet/for/{thing}", {"thing": S}, ["thing"]))[:3] == \
        ("get", "dweet", "thing")
    assert shape(op("companyById", "GET", "/company/id/{id}", {"id": S}, ["id"]))[:3] == ("get", "company", "id")
    assert shape(op("userByEmail", "GET", "/users/by-email/{email}", {"email": S}, ["email"]))[1] == "user"
    # a literal that is itself the resource stays (`/names/{name}`, a leading `/id/{id}`)
    assert shape(op("getName", "GET", "/names/{name}", {"name": S}, ["name"]))[1] == "name"


def test_update_and_delete_are_never_inserts() -> None:
    # A part of the parent with no key of its own: the call changes the parent.
    settings = shape(op("updateSettings", "PUT", "/users/{userId}/settings", {"userId": S, "theme": S}, ["userId"]))
    assert settings[:3] == ("update", "user", "userId")
    avatar = shape(op("deleteAvatar", "DELETE", "/users/{userId}/avatar", {"userId": S}, ["userId"]))
    assert avatar[0] == "action" and avatar[1:3] == ("user", "userId")
    # A PATCH never creates, whatever its path's last word says (`open` is a create verb).
    tracking = shape_tool(op("PATCH_tracking_settings-open", "PATCH", "/tracking_settings/open", {"enabled": S}))
    assert tracking.action != "create"
    # No record named at all: left out with the reason, never an insert.
    keyless = shape_tool(op("delete_organizers", "DELETE", "/organizers", {"body": S}))
    assert keyless.action == "delete" and keyless.problem and "no key parameter" in keyless.problem
    draft = draft_envspec("orgs", "orgs", [
        keyless.tool, op("list_organizers", "GET", "/organizers", {}),
        op("get_organizer", "GET", "/organizers/{id}", {"id": S}, ["id"]),
    ])
    assert draft.spec is not None and "delete_organizers" not in {t.name for t in draft.spec.tools}
    assert any(name == "delete_organizers" and why.startswith("no resource action") for name, why in draft.rejected)


def test_counting_rules() -> None:
    assert name_verb("adexchangebuyer_proposals_patch") == "patch"
    assert name_verb("CreateOrUpdateTimeSettings") == "create"
    assert name_verb("RegisterPatchBaseline") == "register"
    assert is_verb_named("get_change_tokens") and is_verb_named("delete_xss_match_sets")
    assert is_verb_named("projects_jobs_gets")
    assert not is_verb_named("xss_match_sets") and not is_verb_named("mailing_lists")
    spec = {"name": "e", "tables": [], "dependencies": [], "tools": [
        {"name": "accounts_patch", "operation": {"kind": "insert", "table": "a", "values": {}}},
        {"name": "DeleteRule", "operation": {"kind": "sequence", "steps": [
            {"bind": "x", "op": {"kind": "insert", "table": "a", "values": {}}}]}},
        {"name": "accounts_update", "operation": {"kind": "update", "table": "a", "key": {"arg": "id"}, "set": {}}},
    ]}
    assert write_named_inserts(spec) == {"update": ["accounts_patch"], "delete": ["DeleteRule"], "state": []}
    assert build_counts([spec])["environments_without_dependency"] == 1


def test_counting_rules_catch_run_together_operation_tables_and_state_change_inserts() -> None:
    # `/v1/canceljob` gave a table `canceljobs`: no underscore, yet one table per operation.
    assert is_verb_named("canceljobs", ["CancelJob", "SubmitJob"])
    assert is_verb_named("describejobqueues", ["DescribeJobQueues"])
    assert not is_verb_named("jobs", ["CancelJob", "SubmitJob"]) and not is_verb_named("canceljobs")
    assert not is_verb_named("listings", ["ListListings"])
    spec = {"name": "e", "tables": [{"name": "canceljobs"}, {"name": "jobs"}], "dependencies": [], "tools": [
        {"name": "CancelJob", "operation": {"kind": "insert", "table": "canceljobs", "values": {}}},
        {"name": "StartQueryExecution", "operation": {"kind": "insert", "table": "q", "values": {}}},
    ]}
    assert write_named_inserts(spec)["state"] == ["CancelJob"]  # a new query run is rightly an insert
    counts = build_counts([spec])
    assert counts["state_change_named_inserts"] == 1 and counts["verb_named_tables"] == 1


def test_rest_json_action_paths_are_resource_actions() -> None:
    """AWS Batch: `POST /v1/canceljob` is CancelJob on a job, not a table of cancellations."""
    cancel = shape_tool(op("CancelJob", "POST", "/v1/canceljob", {"jobId": S, "reason": S}, ["jobId", "reason"]))
    assert (cancel.entity, cancel.key_param) == ("job", "jobId") and cancel.action != "create"
    assert shape(op("SubmitJob", "POST", "/v1/submitjob", {"jobName": S, "jobQueue": S}, ["jobName"]))[:2] == \
        ("create", "job")
    # Only a parameterless path: one with path parameters is read as REST (its parents matter).
    assert is_action_api("/v1/canceljob", "CancelJob") and not is_action_api("/v1/{shop}/getorders", "GetOrders")
    assert not is_action_api("/v1/jobs", "Jobs")  # one word names no action


def test_verb_like_words_the_tools_use_as_nouns_do_not_count() -> None:
    """SSM's `patch` (DescribePatchBaselines), a contact `list`, a Trello `list`: nouns, since the
    environment's tools put them in a verb's object and no tool name starts with them."""
    ssm = ["CreatePatchBaseline", "DescribePatchBaselines", "DescribeEffectivePatchesForPatchBaseline",
           "DescribePatchGroupState", "GetPatchBaseline"]
    for table in ("patch_baselines", "patch_group_states", "effective_patches", "available_patches"):
        assert not is_verb_named(table, ssm), table
    assert not is_verb_named("list_items", ["addContactListItems", "createContactList", "getContactListItems"])
    assert not is_verb_named("list_boards", ["getListsByIdList", "getListsBoardByIdList", "addLists"])
    assert noun_words(["DescribePatchBaselines", "GetPatchBaseline"]) >= {"patch", "baseline"}
    # Still operations: the word leads a tool of the environment, or no tool uses it as a noun.
    assert is_verb_named("get_change_tokens", ["GetChangeToken", "CreateIPSet"])
    assert is_verb_named("canceljobs", ["CancelJob", "DescribeJobs"])
    assert is_verb_named("list_boards", ["getListsByIdList", "listBoards"])
    assert is_verb_named("patch_baselines", ["DescribePatchBaselines", "PatchBaseline"])
    assert is_verb_named("patch_baselines")
    # A word after a preposition or in a name no verb leads is no verb's object.
    assert is_verb_named("get_items", ["ListItemsForGet", "ItemsGet"])
    spec = {"name": "e", "dependencies": [], "tables": [{"name": "patch_groups"}, {"name": "get_patch_states"}],
            "tools": [{"name": "DescribePatchGroups"}, {"name": "GetPatchState"}]}
    assert verb_named_tables(spec) == ["get_patch_states"]


def test_operation_named_path_segments_act_on_the_resource_they_name() -> None:
    """ShipStation's `/carriers/getcarrier?carrierCode=`, BeezUP's `/orders/batches/setMerchantOrderInfos`
    and ExaVault's `/v1/checkFilesExist`: a verb and a noun in one segment are an operation on that
    noun, never a table of its own (`getcarriers`, `set_merchant_order_info`, `check_files_exists`)."""
    code = {"carrierCode": S}
    assert shape(op("get_carriers_getcarrier", "GET", "/carriers/getcarrier?carrierCode={carrierCode}", code,
                    ["carrierCode"]))[:3] == ("get", "carrier", "carrierCode")
    assert shape(op("get_carriers_listpackages", "GET", "/carriers/listpackages?carrierCode={carrierCode}", code,
                    ["carrierCode"]))[:2] == ("find", "package")
    assert shape(op("post_carriers_addfunds", "POST", "/carriers/addfunds", {}))[:2] == ("create", "fund")
    assert shape(op("get_orders_listbytag", "GET", "/orders/listbytag?tagId={tagId}", {"tagId": S}))[:2] == \
        ("find", "order")
    info = shape_tool(op("SetMerchantOrderInfoList", "POST", "/user/marketplaces/orders/batches/setMerchantOrderInfos",
                         {"orderId": S, "orderMerchantOrderId": S}, ["orderId"]))
    assert (info.action, info.verb, info.entity) == ("update", "set", "merchant_order_info")
    assert shape(op("checkFilesExist", "GET", "/v1/checkFilesExist", {"filePaths": S}, ["filePaths"]))[:2] == \
        ("find", "file")
    for table in ("carrier", "package", "fund", "merchant_order_info", "file"):
        assert not is_verb_named(table)
    # One word, not a verb and its object: `listings`, `address`, `addons` stay resources.
    assert shape(op("get_listings", "GET", "/shop/listings", {}))[:2] == ("find", "listing")
    assert shape(op("get_address", "GET", "/users/address", {}))[1] == "address"
    assert shape(op("get_addons", "GET", "/plans/addons", {}))[1] == "addon"
    # An ambiguous verb in a segment that is not the operation's name stays a noun.
    assert shape(op("StopPoint_Get", "GET", "/StopPoint", {}))[1] == "stop_point"
    assert shape(op("listOrderItems", "GET", "/orders/orderItems", {}))[1] == "order_item"
    # A change that names no record is not made one by splitting its segment.
    assert shape_tool(op("post_orders_removetag", "POST", "/orders/removetag", {})).problem is None


def test_a_dotted_rpc_method_is_its_verb_acting_on_its_noun() -> None:
    """EPA ECHO's `/air_rest_services.get_facilities` is the method `get_facilities` of a service:
    it finds facilities (table `facilities`), by GET or by POST alike; no table named after the
    whole method (`air_rest_services_get_facilities`), and the POST twin is no insert."""
    fn = {"p_st": S, "p_fn": S}
    for method in ("GET", "POST"):
        name = f"{method.lower()}_air_rest_services_get_facilities"
        assert shape(op(name, method, "/air_rest_services.get_facilities", fn)) == ("find", "facility", None, [])
        tool = op(f"{method.lower()}_eff_rest_services_download_effluent_chart", method,
                  "/eff_rest_services.download_effluent_chart", {"p_id": S}, ["p_id"])
        assert shape(tool) == ("find", "effluent_chart", None, [])
        # A method reading the record its required key names gets it, by POST as by GET.
        tool = op(f"{method.lower()}_air_rest_services_get_qid", method, "/air_rest_services.get_qid",
                  {"qid": S, "pageno": {"type": "integer"}}, ["qid"])
        assert shape(tool) == ("get", "qid", "qid", [])
    assert not is_verb_named("facilities")


def test_dotted_segments_that_are_no_service_method_stay_as_they_were() -> None:
    """Only a namespace named as a service (`..._rest_services`, `..._api`) and a method that is a
    verb and a noun: Slack's `/channels.setPurpose` acts on a channel, `/air_rest_services.metadata`
    has no verb, `/info.0.json` and `/lists.{format}` are file names, and a POST method of no read
    verb stays what it was."""
    assert shape(op("get_channels_setPurpose", "GET", "/channels.setPurpose", {"channel": S, "purpose": S}))[1] \
        == "channels_set_purpose"
    assert shape(op("get_air_rest_services_metadata", "GET", "/air_rest_services.metadata", {}))[:2] == \
        ("find", "air_rest_services_metadata")
    assert shape(op("post_air_rest_services_metadata", "POST", "/air_rest_services.metadata", {}))[:2] == \
        ("create", "air_rest_services_metadata")
    assert shape(op("get_info_0_json", "GET", "/info.0.json", {}))[1] == "info_0"
    # A POST by a read verb outside an RPC method keeps its key rule: `getcarrier` by POST stays a find.
    assert shape(op("post_carriers_getcarrier", "POST", "/carriers/getcarrier", {"carrierCode": S},
                    ["carrierCode"]))[:2] == ("find", "carrier")


@pytest.fixture(scope="module")
def posty() -> Any:
    tools = ingest_paths([POSTY]).tools
    draft = draft_envspec("posty", "posty", tools)
    assert draft.spec is not None
    return tools, draft.spec


def test_round_trip_gate_on_a_real_spec(posty: Any) -> None:
    tools, spec = posty
    gated = run_gate(spec)
    assert gated.spec is not None
    trips = {t.table: t for t in gated.round_trips}
    # Every resource with a create and a get tool: domains, their users and aliases, transports.
    assert set(trips) == {"domains", "domain_aliases", "domain_users", "user_aliases", "transports"}
    for trip in trips.values():
        assert trip.ok, (trip.table, trip.failed_step, trip.detail)
        assert trip.passed_steps == ["create", "get", "list", "delete"]
    assert len(gated.kept) == len(tools)
    counts = build_counts([gated.spec.model_dump(mode="json")])
    assert counts["verb_named_tables"] == 0
    assert counts["update_named_inserts"] == counts["delete_named_inserts"] == 0


def test_round_trip_failure_drops_the_tool_with_the_reason(posty: Any) -> None:
    _, spec = posty
    # A listing that shows only the first row never shows what the create made: it works on the
    # seed, so only the round trip sees that it is wrong.
    data = spec.model_dump(mode="json", by_alias=True)
    name = "GET_api_version_domains_format"
    listing = next(t for t in data["tools"] if t["name"] == name)
    assert listing["operation"]["kind"] == "find"
    listing["operation"]["limit"] = 1
    gated = run_gate(parse_envspec(data, origin="broken posty"))
    trip = next(t for t in gated.round_trips if t.table == "domains")
    verdict = next(v for v in gated.verdicts if v.name == name)
    assert trip.failed_step == "list" and trip.tools["list"] == name and "does not list" in (trip.detail or "")
    assert not verdict.ok and verdict.reason == "round trip: list failed"
    assert gated.spec is not None and name not in {t.name for t in gated.spec.tools}
    assert len(gated.spec.tools) == len(spec.tools) - 1


def test_a_child_must_belong_to_the_parent_in_its_path(posty: Any) -> None:
    _, spec = posty
    runtime = EnvRuntime(spec)
    store = EpisodeStore({spec.name: runtime})
    episode = store.create(spec.name)
    try:
        alias = episode.rows()["domain_aliases"][0]
        other = next(d["domain_id"] for d in episode.rows()["domains"] if d["domain_id"] != alias["domain_id"])
        # Read under the wrong domain: refused; under its own: the alias.
        get = "GET_api_version_domains_domain_name_aliases_alias_name_format"
        key = alias["domain_alias_id"]
        wrong_read = execute_tool(runtime, episode.conn, get, {"domain_name": other, "alias_name": key})
        assert not wrong_read.ok and "does not belong to domain" in (wrong_read.error or "")
        read = execute_tool(runtime, episode.conn, get, {"domain_name": alias["domain_id"], "alias_name": key})
        assert read.ok and read.data["domain_alias_id"] == key
        delete = "DELETE_api_version_domains_domain_name_aliases_alias_name_format"
        wrong = execute_tool(runtime, episode.conn, delete, {"domain_name": other, "alias_name": alias["domain_alias_id"]})
        assert not wrong.ok and "does not belong to domain" in (wrong.error or "")
        right = execute_tool(runtime, episode.conn, delete,
                             {"domain_name": alias["domain_id"], "alias_name": alias["domain_alias_id"]})
        assert right.ok, right.error
    finally:
        store.close(episode.id)


class _Enum:
    def __init__(self, values: list[str]) -> None:
        self.name, self.type, self.enum = "status", "enum", values


def test_state_rules_from_descriptions() -> None:
    memo = _Enum(["Draft", "Posted", "Cancelled"])
    assert description_rule("Cancels a credit memo. Only credit memos with the Draft status can be cancelled.",
                            memo).allowed == ["Draft"]
    assert description_rule("Only payments with the Cancelled status can be deleted.", memo).allowed == ["Cancelled"]
    assert description_rule("The original invoice must be in draft status.", memo).allowed == ["Draft"]
    stack = _Enum(["CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE"])
    assert description_rule("<p>You can cancel only stacks that are in the UPDATE_IN_PROGRESS state.</p>",
                            stack).allowed == ["UPDATE_IN_PROGRESS"]
    orders = _Enum(["pending", "confirmed", "shipped", "delivered", "cancelled"])
    denied = description_rule("Orders that are shipped or delivered cannot be cancelled.", orders)
    assert denied is not None and denied.allowed == ["pending", "confirmed", "cancelled"]
    assert description_rule("Returns the order with its status.", orders) is None


ORDER_STATUS = {"type": "string", "enum": ["pending", "confirmed", "shipped", "cancelled"]}
ORDER_RECORD = {"type": "object", "properties": {"id": S, "status": ORDER_STATUS, "note": S}}


def _orders_api() -> list[ToolDef]:
    def tool(name: str, method: str, path: str, props: dict[str, Any], required: list[str], description: str,
             returns: dict[str, Any] | None = ORDER_RECORD) -> ToolDef:
        return ToolDef(name=name, source="orders.json", api="Orders", method=method, path=path, format="openapi",
                       description=description, returns=returns,
                       parameters={"type": "object", "properties": props, "required": required})

    return [
        tool("list_orders", "GET", "/orders", {"status": ORDER_STATUS}, [], "List orders.",
             {"type": "array", "items": ORDER_RECORD}),
        tool("get_order", "GET", "/orders/{orderId}", {"orderId": S}, ["orderId"], "Get an order."),
        tool("create_order", "POST", "/orders", {"note": S}, [], "Place an order."),
        tool("cancel_order", "POST", "/orders/{orderId}/cancel", {"orderId": S}, ["orderId"],
             "Cancel an order. Only pending or confirmed orders can be cancelled."),
        tool("delete_order", "DELETE", "/orders/{orderId}", {"orderId": S}, ["orderId"],
             "Delete an order. Orders must be in cancelled status to be deleted."),
    ]


def test_state_rules_are_preconditions_probed_both_ways() -> None:
    draft = draft_envspec("orders", "orders", _orders_api())
    assert draft.spec is not None
    gated = run_gate(draft.spec)
    assert gated.spec is not None
    cancel = gated.spec.tool("cancel_order").operation
    assert [(p.column, p.op, p.value.const) for p in cancel.preconditions if p.op == "in"] == \
        [("status", "in", ["pending", "confirmed"])]
    probes = {(p.tool, p.rule): p for p in gated.rule_probes}
    assert probes[("cancel_order", "status in ['pending', 'confirmed']")].held
    assert probes[("delete_order", "status in ['cancelled']")].held
    # The refusal names the stated rule.
    runtime = EnvRuntime(gated.spec)
    store = EpisodeStore({gated.spec.name: runtime})
    episode = store.create(gated.spec.name)
    try:
        order = episode.rows()["orders"][0]
        episode.conn.execute("UPDATE orders SET status = 'shipped' WHERE order_id = ?", (order["order_id"],))
        refused = execute_tool(runtime, episode.conn, "cancel_order", {"orderId": order["order_id"]})
        assert not refused.ok and "Only pending or confirmed orders can be cancelled" in (refused.error or "")
    finally:
        store.close(episode.id)


def test_list_envelopes_give_their_records_columns_not_their_paging_fields() -> None:
    """`{clients: [...], nextPageToken}` lists clients: the cursor is no column of a client, while
    an order's own `status` beside its `lines` stays a column of orders."""
    client = {"type": "object", "properties": {"clientId": S, "clientName": S}}
    clients = {"type": "object", "properties": {"clients": {"type": "array", "items": client}, "nextPageToken": S}}
    order = {"type": "object", "properties": {"orderId": S, "status": S, "lines": {
        "type": "array", "items": {"type": "object", "properties": {"sku": S}}}}}
    draft = draft_envspec("c", "c", [
        op("list_clients", "GET", "/accounts/{accountId}/clients", {"accountId": S}, ["accountId"], returns=clients),
        op("get_client", "GET", "/accounts/{accountId}/clients/{clientId}", {"accountId": S, "clientId": S},
           ["accountId", "clientId"], returns=client),
        op("get_order", "GET", "/orders/{orderId}", {"orderId": S}, ["orderId"], returns=order),
    ])
    assert draft.spec is not None
    columns = {t.name: {c.name for c in t.columns} for t in draft.spec.tables}
    assert "client_name" in columns["clients"] and "next_page_token" not in columns["clients"]
    assert "status" in columns["orders"]


def test_a_list_named_get_keyed_by_something_else_lists_under_it() -> None:
    # `listBots GET /bot/{app_id}` lists the app's bots; `ListObjects GET /{Bucket}` the bucket's objects.
    action, entity, key, _ = shape(op("listBots", "GET", "/bot/{app_id}", {"app_id": S}, ["app_id"]))
    assert (action, entity, key) == ("find", "bot", None)
    action, entity, key, _ = shape(op("ListObjects", "GET", "/{Bucket}#ListObjects", {"Bucket": S}, ["Bucket"]))
    assert (action, entity, key) == ("find", "object", None)
    action, entity, key, _ = shape(op("ListJobsByPipeline", "GET", "/2012-09-25/jobsByPipeline/{PipelineId}",
                                      {"PipelineId": S}, ["PipelineId"]))
    assert (action, entity, key) == ("find", "job", None)
    # A key that names the listed thing, or a bare id, still gets one record.
    assert shape(op("findStationByStationNumber", "GET", "/stations/{stationnumber}",
                    {"stationnumber": S}, ["stationnumber"]))[:3] == ("get", "station", "stationnumber")
    assert shape(op("findAdvisorByID", "GET", "/advisors/{id}", {"id": S}, ["id"]))[:3] == ("get", "advisor", "id")
    assert shape(op("getBot", "GET", "/bot/{app_id}", {"app_id": S}, ["app_id"]))[:3] == ("get", "bot", "app_id")


def test_a_put_named_create_makes_the_record_the_caller_names() -> None:
    action, entity, key, _ = shape(op("createBot", "PUT", "/bot/{app_id}/{botname}",
                                      {"app_id": S, "botname": S}, ["app_id", "botname"]))
    assert (action, entity, key) == ("create", "bot", "botname")
    path = "/subscriptions/{subscriptionId}/providers/Microsoft.Cdn/profiles/{profileName}"
    props = {"subscriptionId": S, "profileName": S, "sku": S}
    assert shape(op("Profiles_Create", "PUT", path, props, ["subscriptionId", "profileName"]))[:3] == \
        ("create", "profile", "profileName")
    # Create-or-update and plain updates stay updates of the named record.
    assert shape(op("Profiles_CreateOrUpdate", "PUT", path, props, ["subscriptionId", "profileName"]))[:3] == \
        ("update", "profile", "profileName")
    assert shape(op("Profiles_Update", "PUT", path, props, ["subscriptionId", "profileName"]))[:3] == \
        ("update", "profile", "profileName")


def test_a_google_resource_is_one_table_whatever_its_key_is_named() -> None:
    # `achievementConfigurations.get(achievementId)` gets an achievement configuration (no facet of
    # an `achievement`), and `liveChatMessages.list(liveChatId)` lists messages.
    got = shape(op("gamesConfiguration.achievementConfigurations.get", "GET", "/achievements/{achievementId}",
                   {"achievementId": S}, ["achievementId"]))
    assert got[:3] == ("get", "achievement_configuration", "achievementId")
    deleted = shape(op("gamesConfiguration.achievementConfigurations.delete", "DELETE",
                       "/achievements/{achievementId}", {"achievementId": S}, ["achievementId"]))
    assert deleted[:3] == ("delete", "achievement_configuration", "achievementId")
    listed = shape(op("gamesConfiguration.achievementConfigurations.list", "GET",
                      "/applications/{applicationId}/achievements", {"applicationId": S}, ["applicationId"]))
    assert listed[:2] == ("find", "achievement_configuration")
    messages = shape(op("youtube.liveChatMessages.list", "GET", "/liveChat/messages",
                        {"liveChatId": S, "part": S}, ["liveChatId", "part"]))
    assert messages[:3] == ("find", "live_chat_message", None)


def test_a_google_method_that_makes_another_resource_inserts_that_resource() -> None:
    from synth.envs.shapes import reconcile_shapes

    tools = [
        op("oslogin.users.importSshPublicKey", "POST", "/v1/{parent}:importSshPublicKey",
           {"parent": S, "key": S}, ["parent"]),
        op("oslogin.users.sshPublicKeys.get", "GET", "/v1/{name}", {"name": S}, ["name"]),
        op("oslogin.users.sshPublicKeys.delete", "DELETE", "/v1/{name}", {"name": S}, ["name"]),
        # `addInstance` links an existing instance; it makes none.
        op("compute.targetPools.addInstance", "POST", "/{project}/targetPools/{targetPool}/addInstance",
           {"project": S, "targetPool": S}, ["project", "targetPool"]),
        op("compute.instances.get", "GET", "/{project}/instances/{instance}",
           {"project": S, "instance": S}, ["project", "instance"]),
    ]
    shapes = {s.tool.original_name: s for s in reconcile_shapes([shape_tool(t) for t in tools])}
    imported = shapes["oslogin.users.importSshPublicKey"]
    assert (imported.action, imported.entity) == ("create", "ssh_public_key")
    assert shapes["oslogin.users.sshPublicKeys.get"].entity == "ssh_public_key"
    assert shapes["compute.targetPools.addInstance"].entity != "instance"


def _categories_api() -> list[ToolDef]:
    """Semantria's shape: a list, an add, and a bulk delete whose body is the categories' ids."""
    category = {"type": "object", "properties": {"id": S, "name": S}}
    ids = {"type": "array", "items": S, "description": "List of user category identifiers."}
    return [
        op("getCategories", "GET", "/categories", {"config_id": S}, returns={"type": "array", "items": category}),
        op("addCategory", "POST", "/categories", {"config_id": S, "name": S}, ["name"], returns=category),
        op("getCategory", "GET", "/categories/{id}", {"id": S}, ["id"], returns=category),
        op("deleteCategories", "DELETE", "/categories", {"config_id": S, "Category IDs": ids}, ["Category IDs"]),
    ]


def test_a_list_of_the_resources_ids_is_a_bulk_delete() -> None:
    bulk = shape_tool(_categories_api()[-1])
    assert (bulk.problem, bulk.action, bulk.entity, bulk.key_param, bulk.bulk) == \
        (None, "delete", "category", "Category IDs", True)
    # A Google batchDelete ("Required." in the description) and a POST .../delete take ids too.
    photos = shape_tool(op("streetviewpublish.photos.batchDelete", "POST", "/v1/photos:batchDelete",
                           {"photoIds": {"type": "array", "items": S, "description": "Required. IDs of the Photos."}}))
    assert (photos.action, photos.entity, photos.key_param, photos.bulk) == ("delete", "photo", "photoIds", True)
    posted = shape_tool(op("deleteQueries", "POST", "/queries/delete", {"query_ids": {"type": "array", "items": S}},
                           ["query_ids"]))
    assert (posted.action, posted.key_param, posted.bulk) == ("delete", "query_ids", True)
    # Ids of other records, a list of objects or an optional list is no bulk delete of this resource.
    for props, required in (
        ({"products": {"type": "array", "items": S, "description": "An array of product IDs"}}, ["products"]),
        ({"Resources": {"type": "array", "items": S, "description": "The IDs of one or more resources."}},
         ["Resources"]),
        ({"Category IDs": {"type": "array", "items": {"type": "object", "properties": {"id": S}}}}, ["Category IDs"]),
        ({"Category IDs": {"type": "array", "items": S}}, []),
    ):
        other = shape_tool(op("deleteCategories", "DELETE", "/categories", props, required))
        assert other.problem is not None and not other.bulk
    # A single key stays a single delete.
    single = shape_tool(op("deleteCategory", "DELETE", "/categories/{id}", {"id": S}, ["id"]))
    assert (single.key_param, single.bulk) == ("id", False)


def test_a_bulk_delete_passes_the_gate_and_is_fed_by_the_list() -> None:
    from servers.semantics import spec_semantics

    draft = draft_envspec("categories", "categories", _categories_api())
    assert not draft.rejected and draft.spec is not None
    spec = draft.spec
    tool = spec.tool("deleteCategories")
    assert tool.operation.kind == "delete" and tool.operation.many
    assert tool.input_schema["properties"]["Category IDs"]["type"] == "array"
    table = spec.table(tool.operation.table)
    # The list argument carries the table's key, so the list and the add feed it.
    assert spec_semantics(spec)["deleteCategories"].references(spec) == {"Category IDs": (table.name, table.primary_key)}
    fed = {(d.source, d.argument, d.column) for d in spec.dependencies if d.target == "deleteCategories"}
    assert ("getCategories", "Category IDs", table.primary_key) in fed
    assert ("addCategory", "Category IDs", table.primary_key) in fed
    gated = run_gate(spec)
    assert gated.passed and "deleteCategories" in gated.kept
    trip = next(t for t in gated.round_trips if t.table == table.name)
    assert trip.ok and trip.passed_steps[-1] == "delete" and trip.tools["delete"] == "deleteCategories"


def test_lookup_paths_name_the_resource_they_look_up() -> None:
    # `by<param>` names how the resource before it is looked up.
    assert shape(op("wordbylemmaUsingGET", "GET", "/wordnet/word/bylemma", {"lemma": S, "pos": S}, ["lemma"])) == \
        ("find", "word", None, [])
    # A search verb between the resource and its parameters searches that resource.
    assert shape(op("cinema_search_read", "GET", "/api/v1/cinema/search/{id}", {"id": S}, ["id"]))[:2] == \
        ("find", "cinema")
    # Several trailing values, none naming the resource and the last no key: filters.
    assert shape(op("Arrivals", "GET", "/flightstatus/arrivals/{airportCode}/{fromDateTime}",
                    {"airportCode": S, "fromDateTime": S}, ["airportCode", "fromDateTime"]))[:3] == \
        ("find", "arrival", None)
    assert shape(op("Status", "GET", "/Live/Users/{membershipType}/{membershipId}",
                    {"membershipType": S, "membershipId": S}, ["membershipType", "membershipId"]))[0] == "get"
    # A ranking qualifier names no resource of its own.
    assert shape(op("Nearest", "GET", "/references/airports/nearest/{latitude},{longitude}",
                    {"latitude": S, "longitude": S}, ["latitude", "longitude"]))[:2] == ("find", "airport")
    assert shape(op("getTrendingShows", "GET", "/hashtag/trendingShows", {"limit": S}))[:2] == ("find", "show")


def _rpc(path: str, props: dict[str, Any], method: str = "POST", required: list[str] | None = None) -> ToolDef:
    name = method.lower() + path.replace("/", "_").replace("-", "_").replace(".", "_")
    return op(name, method, path, {"key": S, **props}, required)


def test_an_rpc_info_segment_gets_the_record_its_parameter_names() -> None:
    """Mandrill: `/webhooks/info.json {id}` gets a webhook, `/ips/pool-info.json {pool}` a pool;
    no table `info` or `pool_info`."""
    assert shape(_rpc("/webhooks/info.json", {"id": {"type": "integer"}})) == ("get", "webhook", "id", [])
    assert shape(_rpc("/ips/pool-info.json", {"pool": S})) == ("get", "pool", "pool", [])
    assert shape(_rpc("/templates/info.json", {"name": S})) == ("get", "template", "name", [])
    assert shape(_rpc("/senders/info.json", {"address": S})) == ("get", "sender", "address", [])
    assert shape(_rpc("/batch/info", {"id": S}, "GET", ["id"])) == ("get", "batch", "id", [])
    # Unchanged: a POST that also sends a value sets it (`MeterFolderInformation {Id, Name}`); an
    # info that names no record; a GET whose key is not required; a path with a parameter.
    assert shape(_rpc("/api/MeterFolderInformation", {"Id": S, "Name": S}))[0] == "create"
    assert shape(_rpc("/ui/openwindow/information", {"target": {"type": "integer"}}))[1] == "information"
    assert shape(_rpc("/batch/info", {"id": S}, "GET"))[0] == "find"
    assert shape(_rpc("/users/{id}/info", {"id": S}, "GET", ["id"]))[1] == "info"


def test_rpc_writes_are_keyed_by_the_body_parameter_naming_the_record() -> None:
    """`/ips/create-pool.json {pool}` makes the pool the caller names; `delete-pool {pool}`,
    `/templates/delete.json {name}`, `/whitelists/delete.json {email}` change the record their
    parameter names, where the path reading found no key and dropped them."""
    assert shape(_rpc("/ips/create-pool.json", {"pool": S})) == ("create", "pool", "pool", [])
    assert shape(_rpc("/ips/delete-pool.json", {"pool": S})) == ("delete", "pool", "pool", [])
    assert shape(_rpc("/ips/delete.json", {"ip": S})) == ("delete", "ips", "ip", [])
    assert shape(_rpc("/templates/delete.json", {"name": S})) == ("delete", "template", "name", [])
    assert shape(_rpc("/templates/update.json", {"name": S, "code": S})) == ("update", "template", "name", [])
    assert shape(_rpc("/whitelists/delete.json", {"email": S})) == ("delete", "whitelist", "email", [])
    assert shape(_rpc("/templates/publish.json", {"name": S}))[:3] == ("status", "template", "name")
    assert shape(_rpc("/v1/deleteUser", {"username": S}, "GET", ["username"])) == ("delete", "user", "username", [])
    # Unchanged: a create that names no record by its own name; a GET that changes something
    # without a required key; a lone value that is no address (`/orders/clear {side}`).
    assert shape(_rpc("/webhooks/add.json", {"url": S, "description": S})) == ("create", "webhook", None, [])
    assert shape(_rpc("/v1/deleteUser", {"username": S}, "GET"))[0] == "find"
    assert shape_tool(_rpc("/v2/orders/clear.json", {"side": S})).problem is not None
    assert shape(_rpc("/inbound/delete-route.json", {"id": S})) == ("delete", "route", "id", [])


def test_an_rpc_change_of_a_part_changes_the_resource_its_parameter_names() -> None:
    """`/ips/start-warmup.json {ip}`, `/ips/set-pool.json {ip, pool}`: a warmup or a pool setting
    has no key of its own; the call changes the ip the body names (the path's resource)."""
    assert shape(_rpc("/ips/start-warmup.json", {"ip": S}))[:3] == ("action", "ips", "ip")
    assert shape_tool(_rpc("/ips/cancel-warmup.json", {"ip": S})).verb == "cancel_warmup"
    assert shape(_rpc("/ips/set-pool.json", {"ip": S, "pool": S, "create_pool": {"type": "boolean"}})) == \
        ("update", "ips", "ip", [])
    # The part's own key wins for anything but an update; a bare `id` names no path resource.
    assert shape(_rpc("/ips/delete-pool.json", {"pool": S, "ip": S})) == ("delete", "pool", "pool", [])
    assert shape(_rpc("/messages/cancel-scheduled.json", {"id": S}))[:3] == ("status", "scheduled", "id")


def test_rpc_resources_chain_through_their_body_keys() -> None:
    """Across a domain: `ips` is the `ip` its key names, and a create given the parameter the
    other tools key the record by (`/templates/add.json {name}`) makes the record so named,
    so create -> info -> delete chain through one key. REST and action-API creates stay as they are."""
    from synth.envs.shapes import reconcile_shapes

    tools = [_rpc("/ips/list.json", {}), _rpc("/ips/info.json", {"ip": S}), _rpc("/ips/delete.json", {"ip": S}),
             _rpc("/templates/add.json", {"name": S, "code": S}), _rpc("/templates/info.json", {"name": S}),
             _rpc("/whitelists/add.json", {"email": S}), _rpc("/whitelists/delete.json", {"email": S}),
             _rpc("/webhooks/add.json", {"url": S}), _rpc("/webhooks/info.json", {"id": S}),
             op("CreateQueue", "POST", "/#CreateQueue", {"QueueName": S}),
             op("GetQueueAttributes", "POST", "/#GetQueueAttributes", {"QueueName": S}, ["QueueName"])]
    shapes = {s.tool.name: s for s in reconcile_shapes([shape_tool(t) for t in tools])}
    assert {shapes[n].entity for n in ("post_ips_list_json", "post_ips_info_json", "post_ips_delete_json")} == {"ip"}
    assert shapes["post_templates_add_json"].key_param == "name"
    assert shapes["post_whitelists_add_json"].key_param == "email"
    assert shapes["post_webhooks_add_json"].key_param is None  # `id` is the record's own; it sends none
    assert shapes["CreateQueue"].key_param is None


def test_a_google_method_on_a_path_of_its_own_name_acts_on_the_noun_it_names() -> None:
    """Identity Toolkit: `relyingparty.deleteAccount` on `POST /deleteAccount` deletes the account
    the body's one id names (`localId`); the relying party has no key and is no table. Methods on
    a path naming their resource (`/comments/markAsSpam`) stay on that resource."""
    ids = {"localId": S, "idToken": S, "delegatedProjectNumber": S}
    assert shape(op("identitytoolkit.relyingparty.deleteAccount", "POST", "/deleteAccount", ids)) == \
        ("delete", "account", "localId", [])
    assert shape(op("identitytoolkit.relyingparty.downloadAccount", "POST", "/downloadAccount",
                    {"maxResults": {"type": "integer"}}))[:2] == ("find", "account")
    assert shape(op("identitytoolkit.relyingparty.signupNewUser", "POST", "/signupNewUser",
                    {"email": S, "password": S}))[:2] == ("create", "user")
    # A status verb with no id of its record stays keyless (dropped), not keyed by a value it checks.
    assert shape_tool(op("identitytoolkit.relyingparty.verifyPassword", "POST", "/verifyPassword",
                         {"password": S, "email": S})).key_param is None
    assert shape(op("youtube.comments.markAsSpam", "POST", "/comments/markAsSpam", {"id": S}, ["id"]))[1] == "comment"


def _edges(tools: list[ToolDef], name: str) -> set[tuple[str, str, str]]:
    draft = draft_envspec(name, name, tools)
    assert draft.spec is not None, draft.rejected
    return {(d.source, d.target, d.argument) for d in draft.spec.dependencies}


def test_a_write_answered_with_a_key_another_tool_looks_up_creates_that_record() -> None:
    """Graphhopper: `postVrp POST /optimize` answers `{job_id}`, which `getSolution GET
    /solution/{jobId}` reads a solution by; the post makes that solution (the server makes its
    key), not a row of an `optimizes` table nothing reads, so post -> get is an edge."""
    from synth.envs.shapes import reconcile_shapes

    job = {"type": "object", "properties": {"job_id": {**S, "description": "unique id of your job"}}}
    solution = {"type": "object", "properties": {"job_id": S, "status": {"type": "string", "enum": ["waiting_in_queue",
                "processing", "finished"]}, "processing_time": {"type": "integer"}}}
    post = op("postVrp", "POST", "/optimize", {"vehicles": {"type": "array", "items": {"type": "object"}}},
              returns=job)
    get = op("getSolution", "GET", "/solution/{jobId}", {"jobId": S}, ["jobId"], returns=solution)
    shapes = {s.tool.name: s for s in reconcile_shapes([shape_tool(post), shape_tool(get)])}
    assert (shapes["postVrp"].action, shapes["postVrp"].entity, shapes["postVrp"].key_param) == \
        ("create", "solution", None)
    assert ("postVrp", "getSolution", "jobId") in _edges([post, get], "routes")
    # A key the caller gives is an echo, not a key the call made: that write stays as it was.
    given = op("postVrp", "POST", "/optimize", {"job_id": S}, returns=job)
    assert reconcile_shapes([shape_tool(given), shape_tool(get)])[0].entity == "optimize"
    # A write named as an update never inserts, whatever it answers.
    update = op("updateOptimization", "POST", "/optimize", {"vehicles": S}, returns=job)
    changed = reconcile_shapes([shape_tool(update), shape_tool(get)])[0]
    assert (changed.action, changed.entity) != ("create", "solution")


def test_a_query_key_of_another_resource_on_a_collection_is_its_parent() -> None:
    """Getty Images: `PUT /asset-changes/change-sets?channel_id=` answers `{change_set_id,
    changed_assets}`: it makes a change set of that channel (`channels` is keyed by `channel_id`),
    it does not update a change set keyed by the channel's id. The channel listing feeds the
    put, and the put feeds the delete of the change set it made."""
    from synth.envs.shapes import reconcile_shapes

    integer = {"type": "integer"}
    put = op("AssetChanges_PutAssetChanges", "PUT", "/v3/asset-changes/change-sets",
             {"channel_id": integer, "batch_size": integer}, ["channel_id"],
             returns={"type": "object", "properties": {"change_set_id": S, "changed_assets": {
                 "type": "array", "items": {"type": "object", "properties": {"id": S, "uri": S}}}}})
    delete = op("AssetChanges_DeleteAssetChanges", "DELETE", "/v3/asset-changes/change-sets/{change-set-id}",
                {"change-set-id": integer}, ["change-set-id"])
    channels = op("AssetChanges_GetPartnerChannel", "GET", "/v3/asset-changes/channels", {},
                  returns={"type": "object", "properties": {"channels": {"type": "array", "items": {
                      "type": "object", "properties": {"channel_id": integer, "channel_type": S}}}}})
    shapes = {s.tool.name: s for s in reconcile_shapes([shape_tool(t) for t in (put, delete, channels)])}
    # `change-sets` keyed whole by `{change-set-id}` is a noun, not the verb `change` on sets.
    deleted = shapes["AssetChanges_DeleteAssetChanges"]
    assert (deleted.action, deleted.entity, deleted.key_param) == ("delete", "change_set", "change-set-id")
    made = shapes["AssetChanges_PutAssetChanges"]
    assert (made.action, made.entity, made.key_param, made.parents) == \
        ("create", "change_set", None, [("channel_id", "channel")])
    edges = _edges([put, delete, channels], "assets")
    assert ("AssetChanges_GetPartnerChannel", "AssetChanges_PutAssetChanges", "channel_id") in edges
    assert ("AssetChanges_PutAssetChanges", "AssetChanges_DeleteAssetChanges", "change-set-id") in edges
    # Azure `searchServices/{searchServiceName}`: services, looked up by name, not searched.
    path = "/subscriptions/{s}/providers/Microsoft.Search/searchServices/{searchServiceName}"
    assert shape(op("Services_Get", "GET", path, {"s": S, "searchServiceName": S}, ["s", "searchServiceName"]))[:3] \
        == ("get", "service", "searchServiceName")
    # A verb-led literal with no parameter keying it whole still reads as a verb.
    assert shape(op("startExport", "POST", "/start-export", {}))[:2] == ("create", "export")
