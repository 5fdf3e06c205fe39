"""τ²-bench retail tools (tau2/domains/retail/tools.py) as programs, check for check.

Messages are τ²'s. Where τ²'s Python has a quirk that decides the final state, the program keeps
it, so that replays hash alike: `modify_pending_order_items` gives every modified item the price
and options of the LAST new item of the list (its loop reuses `variant`), and balances are
rounded with Python's round() (`envhub_round`).
"""

from __future__ import annotations

from typing import Any

from synth.importers.tau2.common import CALCULATE, TRANSFER, entity_result, jnum, member, program

ORDER_STATUS = "SELECT status FROM orders WHERE order_id = :order_id"
ORDER_EXISTS = {"require": "SELECT :status IS NOT NULL", "message": "Order not found"}
ORDER_USER = {"let": "order_user", "query": "SELECT user_id FROM orders WHERE order_id = :order_id"}
USER_EXISTS = {"require": "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = :order_user)", "message": "User not found"}


def _pm_exists(user: str, pm: str) -> dict[str, Any]:
    return {"require": f"SELECT json_type(payment_methods, {member(pm)}) IS NOT NULL FROM users WHERE user_id = :{user}",
            "message": "Payment method not found"}


def _pm_field(user: str, pm: str, field: str) -> str:
    return f"SELECT json_extract(payment_methods, {member(pm)} || '.{field}') FROM users WHERE user_id = :{user}"


def _gift_card_add(user: str, pm: str, amount_sql: str) -> dict[str, Any]:
    """balance += amount; balance = round(balance, 2) -- only when the method is a gift card."""
    balance = f"json_extract(payment_methods, {member(pm)} || '.balance')"
    return {"exec": f"UPDATE users SET payment_methods = json_set(payment_methods, {member(pm)} || '.balance', "
                    f"{jnum(f'envhub_round({balance} + ({amount_sql}), 2)')}) WHERE user_id = :{user} "
                    f"AND json_extract(payment_methods, {member(pm)} || '.source') = 'gift_card'"}


def _append_payment(kind_sql: str, amount_sql: str, pm_sql: str) -> dict[str, Any]:
    return {"exec": "UPDATE orders SET payment_history = json_insert(payment_history, '$[#]', json_object("
                    f"'transaction_type', {kind_sql}, 'amount', {jnum(amount_sql)}, 'payment_method_id', {pm_sql})) "
                    "WHERE order_id = :order_id"}


ITEM_ROWS = "FROM orders o, json_each(o.items) i WHERE o.order_id = :order_id"


def _count_check(message: str) -> list[dict[str, Any]]:
    """Each listed id at most as often as the order has it; the first offender (in list order) named."""
    return [
        {"let": "missing_item", "query":
            "SELECT a.value FROM json_each(:item_ids) a WHERE (SELECT COUNT(*) FROM json_each(:item_ids) b "
            f"WHERE b.value = a.value) > (SELECT COUNT(*) {ITEM_ROWS} AND json_extract(i.value, '$.item_id') = a.value) "
            "ORDER BY a.key LIMIT 1"},
        {"require": "SELECT :missing_item IS NULL", "message": message},
    ]


PAIRS = ("SELECT a.value AS item_id, b.value AS new_item_id FROM json_each(:item_ids) a "
         "JOIN json_each(:new_item_ids) b ON b.key = a.key ORDER BY a.key")


def _price_difference_loop(same_id_check: bool) -> dict[str, Any]:
    """diff += new price - old price over the pairs, with τ²'s per-pair checks in its order."""
    steps: list[dict[str, Any]] = []
    if same_id_check:
        steps.append({"require": "SELECT :p_item_id != :p_new_item_id",
                      "message": "The new item id should be different from the old item id"})
    steps += [
        {"let": "item_product", "query": f"SELECT json_extract(i.value, '$.product_id') {ITEM_ROWS} "
                                         "AND json_extract(i.value, '$.item_id') = :p_item_id ORDER BY i.key LIMIT 1"},
        {"require": "SELECT :item_product IS NOT NULL", "message": "Item {p_item_id} not found"},
        {"let": "old_price", "query": f"SELECT json_extract(i.value, '$.price') {ITEM_ROWS} "
                                      "AND json_extract(i.value, '$.item_id') = :p_item_id ORDER BY i.key LIMIT 1"},
        {"require": "SELECT EXISTS (SELECT 1 FROM products WHERE product_id = :item_product)",
         "message": "Product not found"},
        {"let": "variant", "query": "SELECT json_extract(variants, '$.\"' || :p_new_item_id || '\"') FROM products "
                                    "WHERE product_id = :item_product"},
        {"require": "SELECT :variant IS NOT NULL", "message": "Variant not found"},
        {"require": "SELECT json_extract(:variant, '$.available') = 1",
         "message": "New item {p_new_item_id} not found or available"},
        {"let": "diff", "query": "SELECT :diff + (json_extract(:variant, '$.price') - :old_price)"},
    ]
    return {"for_each": PAIRS, "as": "p", "steps": steps}


def _sorted_list(param: str) -> str:
    return f"(SELECT json_group_array(value) FROM (SELECT value FROM json_each(:{param}) ORDER BY value))"


def programs(tables: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    orders, users, products = tables["orders"], tables["users"], tables["products"]
    order_result = entity_result(orders, "order_id")
    address = ("json_object('address1', :address1, 'address2', :address2, 'city', :city, 'state', :state, "
               "'country', :country, 'zip', :zip)")
    return {
        "calculate": CALCULATE,
        "transfer_to_human_agents": TRANSFER,
        "get_order_details": program([], entity_result(orders, "order_id", "Order not found")),
        "get_user_details": program([], entity_result(users, "user_id", "User not found")),
        "get_product_details": program([], entity_result(products, "product_id", "Product not found")),
        "list_all_product_types": program([], {
            "query": "SELECT json_group_object(name, product_id) FROM (SELECT name, product_id FROM products "
                     "ORDER BY name)", "shape": "value"}),
        "find_user_id_by_email": program([], {
            "query": "SELECT user_id FROM users WHERE lower(email) = lower(:email) ORDER BY rowid LIMIT 1",
            "shape": "value", "message": "User not found"}),
        "find_user_id_by_name_zip": program([], {
            "query": "SELECT user_id FROM users WHERE lower(json_extract(name, '$.first_name')) = lower(:first_name) "
                     "AND lower(json_extract(name, '$.last_name')) = lower(:last_name) "
                     "AND json_extract(address, '$.zip') = :zip ORDER BY rowid LIMIT 1",
            "shape": "value", "message": "User not found"}),
        "cancel_pending_order": program([
            {"let": "status", "query": ORDER_STATUS}, ORDER_EXISTS,
            {"require": "SELECT :status = 'pending'", "message": "Non-pending order cannot be cancelled"},
            {"require": "SELECT :reason IN ('no longer needed', 'ordered by mistake')", "message": "Invalid reason"},
            ORDER_USER,
            {"for_each": "SELECT json_extract(h.value, '$.payment_method_id') AS pm, json_extract(h.value, '$.amount') "
                         "AS amount FROM orders o, json_each(o.payment_history) h WHERE o.order_id = :order_id "
                         "ORDER BY h.key", "as": "pay", "steps": [
                USER_EXISTS, _pm_exists("order_user", "pay_pm"),
                _gift_card_add("order_user", "pay_pm", ":pay_amount"),
                _append_payment("'refund'", ":pay_amount", ":pay_pm")]},
            {"exec": "UPDATE orders SET status = 'cancelled', cancel_reason = :reason WHERE order_id = :order_id",
             "expect_changes": 1},
        ], order_result),
        "exchange_delivered_order_items": program([
            {"let": "status", "query": ORDER_STATUS}, ORDER_EXISTS,
            {"require": "SELECT :status = 'delivered'", "message": "Non-delivered order cannot be exchanged"},
            *_count_check("Number of {missing_item} not found."),
            {"require": "SELECT json_array_length(:item_ids) = json_array_length(:new_item_ids)",
             "message": "The number of items to be exchanged should match."},
            {"let": "diff", "query": "SELECT 0"},
            _price_difference_loop(same_id_check=False),
            {"let": "diff", "query": "SELECT envhub_round(:diff, 2)"},
            ORDER_USER, USER_EXISTS, _pm_exists("order_user", "payment_method_id"),
            {"require": f"SELECT NOT (({_pm_field('order_user', 'payment_method_id', 'source')}) = 'gift_card' AND "
                        f"({_pm_field('order_user', 'payment_method_id', 'balance')}) < :diff)",
             "message": "Insufficient gift card balance to pay for the price difference"},
            {"exec": f"UPDATE orders SET status = 'exchange requested', exchange_items = {_sorted_list('item_ids')}, "
                     f"exchange_new_items = {_sorted_list('new_item_ids')}, "
                     "exchange_payment_method_id = :payment_method_id, exchange_price_difference = :diff "
                     "WHERE order_id = :order_id"},
        ], order_result),
        "modify_pending_order_address": program([
            {"let": "status", "query": ORDER_STATUS}, ORDER_EXISTS,
            {"require": "SELECT instr(:status, 'pending') > 0", "message": "Non-pending order cannot be modified"},
            {"exec": f"UPDATE orders SET address = {address} WHERE order_id = :order_id"},
        ], order_result),
        "modify_user_address": program([
            {"require": "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = :user_id)", "message": "User not found"},
            {"exec": f"UPDATE users SET address = {address} WHERE user_id = :user_id"},
        ], entity_result(users, "user_id")),
        "modify_pending_order_items": program([
            {"let": "status", "query": ORDER_STATUS}, ORDER_EXISTS,
            {"require": "SELECT :status = 'pending'", "message": "Non-pending order cannot be modified"},
            *_count_check("{missing_item} not found"),
            {"require": "SELECT json_array_length(:item_ids) = json_array_length(:new_item_ids)",
             "message": "The number of items to be exchanged should match"},
            {"let": "diff", "query": "SELECT 0"},
            {"let": "variant", "query": "SELECT NULL"},
            _price_difference_loop(same_id_check=True),
            ORDER_USER, USER_EXISTS, _pm_exists("order_user", "payment_method_id"),
            {"require": f"SELECT NOT (({_pm_field('order_user', 'payment_method_id', 'source')}) = 'gift_card' AND "
                        f"({_pm_field('order_user', 'payment_method_id', 'balance')}) < :diff)",
             "message": "Insufficient gift card balance to pay for the new item"},
            _append_payment("CASE WHEN :diff > 0 THEN 'payment' ELSE 'refund' END", "abs(:diff)", ":payment_method_id"),
            _gift_card_add("order_user", "payment_method_id", "-:diff"),
            {"for_each": PAIRS, "as": "m", "steps": [
                {"let": "position", "query": f"SELECT i.key {ITEM_ROWS} AND json_extract(i.value, '$.item_id') = "
                                             ":m_item_id ORDER BY i.key LIMIT 1"},
                {"require": "SELECT :position IS NOT NULL", "message": "Item {m_item_id} not found"},
                {"exec": "UPDATE orders SET items = json_set(items, '$[' || :position || '].item_id', :m_new_item_id, "
                         "'$[' || :position || '].price', json(envhub_json_number(json_extract(:variant, '$.price'))), "
                         "'$[' || :position || '].options', json(json_extract(:variant, '$.options'))) "
                         "WHERE order_id = :order_id"}]},
            {"exec": "UPDATE orders SET status = 'pending (item modified)' WHERE order_id = :order_id"},
        ], order_result),
        "modify_pending_order_payment": program([
            {"let": "status", "query": ORDER_STATUS}, ORDER_EXISTS,
            {"require": "SELECT instr(:status, 'pending') > 0", "message": "Non-pending order cannot be modified"},
            ORDER_USER, USER_EXISTS, _pm_exists("order_user", "payment_method_id"),
            {"let": "first_payment", "query": "SELECT json_extract(payment_history, '$[0]') FROM orders "
                                              "WHERE order_id = :order_id"},
            {"require": "SELECT json_array_length(payment_history) = 1 AND "
                        "json_extract(:first_payment, '$.transaction_type') = 'payment' FROM orders "
                        "WHERE order_id = :order_id",
             "message": "There should be exactly one payment for a pending order"},
            {"let": "old_pm", "query": "SELECT json_extract(:first_payment, '$.payment_method_id')"},
            {"require": "SELECT :old_pm != :payment_method_id",
             "message": "The new payment method should be different from the current one"},
            {"let": "amount", "query": "SELECT json_extract(:first_payment, '$.amount')"},
            {"require": f"SELECT NOT (({_pm_field('order_user', 'payment_method_id', 'source')}) = 'gift_card' AND "
                        f"({_pm_field('order_user', 'payment_method_id', 'balance')}) < :amount)",
             "message": "Insufficient gift card balance to pay for the order"},
            _append_payment("'payment'", ":amount", ":payment_method_id"),
            _append_payment("'refund'", ":amount", ":old_pm"),
            _gift_card_add("order_user", "payment_method_id", "-:amount"),
            _pm_exists("order_user", "old_pm"),
            _gift_card_add("order_user", "old_pm", ":amount"),
        ], order_result),
        "return_delivered_order_items": program([
            {"let": "status", "query": ORDER_STATUS}, ORDER_EXISTS,
            {"require": "SELECT :status = 'delivered'", "message": "Non-delivered order cannot be returned"},
            ORDER_USER, USER_EXISTS, _pm_exists("order_user", "payment_method_id"),
            {"require": f"SELECT ({_pm_field('order_user', 'payment_method_id', 'source')}) = 'gift_card' OR "
                        ":payment_method_id = (SELECT json_extract(payment_history, '$[0].payment_method_id') "
                        "FROM orders WHERE order_id = :order_id)",
             "message": "Payment method should be the original payment method"},
            *_count_check("Some item not found"),
            {"exec": f"UPDATE orders SET status = 'return requested', return_items = {_sorted_list('item_ids')}, "
                     "return_payment_method_id = :payment_method_id WHERE order_id = :order_id"},
        ], order_result),
    }
