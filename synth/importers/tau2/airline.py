"""τ²-bench airline tools (tau2/domains/airline/tools.py) as programs, check for check.

Messages are τ²'s, and so are its behaviours that decide the final state: new reservation ids are
HATHAT, HATHAU, HATHAV in that order, new certificates certificate_3221322..24, `created_at` is
τ²'s fixed clock (the spec's `clock`), cancelling releases no seats, changing flights moves no
seats, gift-card amounts are not rounded.
"""

from __future__ import annotations

from typing import Any

from synth.importers.tau2.common import CALCULATE, TRANSFER, entity_result, jnum, member, program

CLOCK = "2024-05-15T15:00:00"

AIRPORTS = [("SFO", "San Francisco"), ("JFK", "New York"), ("LAX", "Los Angeles"), ("ORD", "Chicago"),
            ("DFW", "Dallas"), ("DEN", "Denver"), ("SEA", "Seattle"), ("ATL", "Atlanta"), ("MIA", "Miami"),
            ("BOS", "Boston"), ("PHX", "Phoenix"), ("IAH", "Houston"), ("LAS", "Las Vegas"), ("MCO", "Orlando"),
            ("EWR", "Newark"), ("CLT", "Charlotte"), ("MSP", "Minneapolis"), ("DTW", "Detroit"),
            ("PHL", "Philadelphia"), ("LGA", "LaGuardia")]


def _date_path(date_param: str) -> str:
    return member(date_param)


def _flight_instance_checks(fn: str, date: str) -> list[dict[str, Any]]:
    """τ²'s _get_flight / _get_flight_instance: the flight, then its date."""
    return [
        {"require": f"SELECT EXISTS (SELECT 1 FROM flights WHERE flight_number = :{fn})",
         "message": f"Flight {{{fn}}} not found"},
        {"require": f"SELECT json_type(dates, {_date_path(date)}) IS NOT NULL FROM flights WHERE flight_number = :{fn}",
         "message": f"Flight {{{fn}}} not found on date {{{date}}}"},
    ]


def _instance(fn: str, date: str, path: str, cabin: bool = False) -> str:
    """SELECT a value of the flight's entry for the date; `path` ('.status', '.prices') gets
    '.' || :cabin appended when `cabin`."""
    suffix = f" || '{path}'" + (" || '.' || :cabin" if cabin else "")
    return f"SELECT json_extract(dates, {_date_path(date)}{suffix}) FROM flights WHERE flight_number = :{fn}"


def _available_checks(fn: str, date: str, passengers_sql: str) -> list[dict[str, Any]]:
    return [
        {"require": f"SELECT ({_instance(fn, date, '.status')}) = 'available'",
         "message": f"Flight {{{fn}}} not available on date {{{date}}}"},
        {"require": f"SELECT ({_instance(fn, date, '.available_seats', cabin=True)}) >= {passengers_sql}",
         "message": f"Not enough seats on flight {{{fn}}}"},
    ]


def _pm(user: str, pm: str, field: str) -> str:
    return f"(SELECT json_extract(payment_methods, {member(pm)} || '.{field}') FROM users WHERE user_id = :{user})"


def _payment_for_update(user: str) -> list[dict[str, Any]]:
    """τ²'s _payment_for_update(user, payment_id, total_price): checks, gift card charge, payment row."""
    return [
        {"require": f"SELECT json_type(payment_methods, {member('payment_id')}) IS NOT NULL FROM users "
                    f"WHERE user_id = :{user}", "message": "Payment method not found"},
        {"require": f"SELECT {_pm(user, 'payment_id', 'source')} != 'certificate'",
         "message": "Certificate cannot be used to update reservation"},
        {"require": f"SELECT NOT ({_pm(user, 'payment_id', 'source')} = 'gift_card' AND "
                    f"{_pm(user, 'payment_id', 'amount')} < :total_price)",
         "message": "Gift card balance is not enough"},
        {"exec": f"UPDATE users SET payment_methods = json_set(payment_methods, {member('payment_id')} || '.amount', "
                 f"{jnum(_pm(user, 'payment_id', 'amount') + ' - :total_price')}) "
                 f"WHERE user_id = :{user} AND json_extract(payment_methods, {member('payment_id')} || '.source') "
                 "= 'gift_card'"},
        {"exec": "UPDATE reservations SET payment_history = json_insert(payment_history, '$[#]', json_object("
                 "'payment_id', :payment_id, 'amount', json(envhub_json_number(:total_price)))) "
                 "WHERE reservation_id = :reservation_id AND :total_price != 0"},
    ]


RESERVATION_EXISTS = {"require": "SELECT EXISTS (SELECT 1 FROM reservations WHERE reservation_id = :reservation_id)",
                      "message": "Reservation {reservation_id} not found"}
RES_USER = [
    {"let": "res_user", "query": "SELECT user_id FROM reservations WHERE reservation_id = :reservation_id"},
    {"require": "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = :res_user)", "message": "User {res_user} not found"},
]
N_PASSENGERS = "(SELECT json_array_length(passengers) FROM reservations WHERE reservation_id = :reservation_id)"
FLIGHT_INFOS = ("SELECT json_extract(value, '$.flight_number') AS flight_number, json_extract(value, '$.date') AS date "
                "FROM json_each(:flights) ORDER BY key")


def _direct_flights(origin_sql: str, destination_sql: str, date_param: str, leave_after_sql: str | None) -> str:
    """τ²'s _search_direct_flight as a SELECT of DirectFlight objects, in τ²'s order (the flights table's)."""
    inst = f"json_extract(f.dates, {_date_path(date_param)})"
    where = [f"({origin_sql} IS NULL OR f.origin = {origin_sql})",
             f"({destination_sql} IS NULL OR f.destination = {destination_sql})",
             f"json_extract({inst}, '$.status') = 'available'"]
    if leave_after_sql:
        where.append(f"f.scheduled_departure_time_est >= {leave_after_sql}")
    return ("SELECT f.rowid AS position, f.flight_number, f.origin, f.destination, f.scheduled_departure_time_est, "
            f"f.scheduled_arrival_time_est, json(json_extract({inst}, '$.available_seats')) AS available_seats, "
            f"json(json_extract({inst}, '$.prices')) AS prices FROM flights f WHERE {' AND '.join(where)}")


def _direct_json(alias: str, date_sql: str | None) -> str:
    fields = [f"'flight_number', {alias}.flight_number", f"'origin', {alias}.origin",
              f"'destination', {alias}.destination", "'status', 'available'",
              f"'scheduled_departure_time_est', {alias}.scheduled_departure_time_est",
              f"'scheduled_arrival_time_est', {alias}.scheduled_arrival_time_est",
              f"'date', {date_sql or 'NULL'}",
              f"'available_seats', json({alias}.available_seats)", f"'prices', json({alias}.prices)"]
    return f"json_object({', '.join(fields)})"


def programs(tables: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    reservations, users = tables["reservations"], tables["users"]
    reservation_result = entity_result(reservations, "reservation_id")
    next_day = "'2024-05-' || (CAST(substr(:date, -2) AS INTEGER) + 1)"
    return {
        "calculate": CALCULATE,
        "transfer_to_human_agents": TRANSFER,
        "get_reservation_details": program([], entity_result(reservations, "reservation_id",
                                                             "Reservation {reservation_id} not found")),
        "get_user_details": program([], entity_result(users, "user_id", "User {user_id} not found")),
        "list_all_airports": program([], {
            "query": "SELECT json_array(" + ", ".join(
                f"json_object('iata', '{code}', 'city', '{city}')" for code, city in AIRPORTS) + ")",
            "shape": "json"}),
        "get_flight_status": program(_flight_instance_checks("flight_number", "date"), {
            "query": _instance("flight_number", "date", ".status"), "shape": "value"}),
        "search_direct_flight": program([], {
            "query": "SELECT json_group_array(json(d)) FROM (SELECT " + _direct_json("x", None) + " AS d FROM ("
                     + _direct_flights(":origin", ":destination", "date", None) + ") x ORDER BY x.position)",
            "shape": "json"}),
        "search_onestop_flight": program([], {"query": _onestop_query(next_day), "shape": "json"}),
        "send_certificate": program([
            {"require": "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = :user_id)",
             "message": "User {user_id} not found"},
            {"let": "certificate_id", "query":
                "SELECT c FROM (SELECT 'certificate_3221322' AS c, 1 AS n UNION ALL SELECT 'certificate_3221323', 2 "
                "UNION ALL SELECT 'certificate_3221324', 3) WHERE (SELECT json_type(payment_methods, '$.\"' || c || "
                "'\"') FROM users WHERE user_id = :user_id) IS NULL ORDER BY n LIMIT 1"},
            {"require": "SELECT :certificate_id IS NOT NULL", "message": "Too many certificates"},
            {"exec": f"UPDATE users SET payment_methods = json_set(payment_methods, {member('certificate_id')}, "
                     "json_object('source', 'certificate', 'id', :certificate_id, 'amount', json(envhub_json_number(:amount)))) "
                     "WHERE user_id = :user_id"},
        ], {"query": "SELECT 'Certificate ' || :certificate_id || ' added to user ' || :user_id || ' with amount ' "
                     "|| :amount || '.'", "shape": "value"}),
        "cancel_reservation": program([
            RESERVATION_EXISTS,
            {"exec": "UPDATE reservations SET status = 'cancelled', payment_history = (SELECT json_group_array(json(v)) "
                     "FROM (SELECT value AS v FROM json_each(payment_history) UNION ALL SELECT json_object('payment_id', "
                     "json_extract(value, '$.payment_id'), 'amount', json(envhub_json_number(-json_extract(value, '$.amount')))) "
                     "FROM json_each(payment_history))) WHERE reservation_id = :reservation_id"},
        ], reservation_result),
        "update_reservation_passengers": program([
            RESERVATION_EXISTS,
            {"require": f"SELECT json_array_length(:passengers) = {N_PASSENGERS}",
             "message": "Number of passengers does not match"},
            {"exec": "UPDATE reservations SET passengers = json(:passengers) WHERE reservation_id = :reservation_id"},
        ], reservation_result),
        "update_reservation_baggages": program([
            RESERVATION_EXISTS, *RES_USER,
            {"let": "total_price", "query": "SELECT 50 * max(0, :nonfree_baggages - nonfree_baggages) FROM reservations "
                                            "WHERE reservation_id = :reservation_id"},
            *_payment_for_update("res_user"),
            {"exec": "UPDATE reservations SET total_baggages = :total_baggages, nonfree_baggages = :nonfree_baggages "
                     "WHERE reservation_id = :reservation_id"},
        ], reservation_result),
        "update_reservation_flights": program([
            RESERVATION_EXISTS, *RES_USER,
            {"let": "total_price", "query": "SELECT 0"},
            {"let": "new_flights", "query": "SELECT json_array()"},
            {"for_each": FLIGHT_INFOS, "as": "fi", "steps": [
                {"let": "kept", "query": "SELECT json(r.value) FROM reservations res, json_each(res.flights) r "
                                         "WHERE res.reservation_id = :reservation_id AND "
                                         "json_extract(r.value, '$.flight_number') = :fi_flight_number AND "
                                         "json_extract(r.value, '$.date') = :fi_date AND :cabin = res.cabin "
                                         "ORDER BY r.key LIMIT 1"},
                {"if": "SELECT :kept IS NOT NULL", "then": [
                    {"let": "total_price", "query": f"SELECT :total_price + json_extract(:kept, '$.price') * {N_PASSENGERS}"},
                    {"let": "new_flights", "query": "SELECT json_insert(:new_flights, '$[#]', json(:kept))"},
                ], "else": [
                    *_flight_instance_checks("fi_flight_number", "fi_date"),
                    *_available_checks("fi_flight_number", "fi_date", N_PASSENGERS),
                    {"let": "price", "query": _instance("fi_flight_number", "fi_date", ".prices", cabin=True)},
                    {"let": "total_price", "query": f"SELECT :total_price + :price * {N_PASSENGERS}"},
                    {"let": "new_flights", "query": "SELECT json_insert(:new_flights, '$[#]', json_object("
                                                    "'flight_number', :fi_flight_number, 'date', :fi_date, 'price', json(envhub_json_number(:price)), "
                                                    "'origin', origin, 'destination', destination)) FROM flights "
                                                    "WHERE flight_number = :fi_flight_number"},
                ]},
            ]},
            {"let": "total_price", "query": "SELECT :total_price - (SELECT coalesce(sum(json_extract(r.value, '$.price')), 0) "
                                            "FROM reservations res, json_each(res.flights) r WHERE res.reservation_id = "
                                            f":reservation_id) * {N_PASSENGERS}"},
            *_payment_for_update("res_user"),
            {"exec": "UPDATE reservations SET flights = json(:new_flights), cabin = :cabin "
                     "WHERE reservation_id = :reservation_id"},
        ], reservation_result),
        "book_reservation": program([
            {"require": "SELECT EXISTS (SELECT 1 FROM users WHERE user_id = :user_id)",
             "message": "User {user_id} not found"},
            {"let": "reservation_id", "query":
                "SELECT r FROM (SELECT 'HATHAT' AS r, 1 AS n UNION ALL SELECT 'HATHAU', 2 UNION ALL SELECT 'HATHAV', 3) "
                "WHERE r NOT IN (SELECT reservation_id FROM reservations) ORDER BY n LIMIT 1"},
            {"require": "SELECT :reservation_id IS NOT NULL", "message": "Too many reservations"},
            {"let": "n_passengers", "query": "SELECT json_array_length(:passengers)"},
            {"let": "total_price", "query": "SELECT 0"},
            {"let": "new_flights", "query": "SELECT json_array()"},
            {"for_each": FLIGHT_INFOS, "as": "fi", "steps": [
                *_flight_instance_checks("fi_flight_number", "fi_date"),
                *_available_checks("fi_flight_number", "fi_date", ":n_passengers"),
                {"let": "price", "query": _instance("fi_flight_number", "fi_date", ".prices", cabin=True)},
                {"let": "new_flights", "query": "SELECT json_insert(:new_flights, '$[#]', json_object("
                                                "'flight_number', :fi_flight_number, 'date', :fi_date, 'price', json(envhub_json_number(:price)), "
                                                "'origin', origin, 'destination', destination)) FROM flights "
                                                "WHERE flight_number = :fi_flight_number"},
                {"let": "total_price", "query": "SELECT :total_price + :price * :n_passengers"},
            ]},
            {"let": "total_price", "query": "SELECT :total_price + CASE WHEN :insurance = 'yes' THEN 30 * :n_passengers "
                                            "ELSE 0 END + 50 * :nonfree_baggages"},
            {"for_each": "SELECT json_extract(value, '$.payment_id') AS id, json_extract(value, '$.amount') AS amount "
                         "FROM json_each(:payment_methods) ORDER BY key", "as": "pay", "steps": [
                {"require": f"SELECT json_type(payment_methods, {member('pay_id')}) IS NOT NULL FROM users "
                            "WHERE user_id = :user_id", "message": "Payment method {pay_id} not found"},
                {"require": f"SELECT NOT ({_pm('user_id', 'pay_id', 'source')} IN ('gift_card', 'certificate') AND "
                            f"{_pm('user_id', 'pay_id', 'amount')} < :pay_amount)",
                 "message": "Not enough balance in payment method {pay_id}"},
            ]},
            {"let": "total_payment", "query": "SELECT coalesce(sum(json_extract(value, '$.amount')), 0) FROM json_each(:payment_methods)"},
            {"require": "SELECT :total_payment = :total_price",
             "message": "Payment amount does not add up, total price is {total_price}, but paid {total_payment}"},
            {"for_each": "SELECT json_extract(value, '$.payment_id') AS id, json_extract(value, '$.amount') AS amount "
                         "FROM json_each(:payment_methods) ORDER BY key", "as": "charge", "steps": [
                {"exec": f"UPDATE users SET payment_methods = CASE json_extract(payment_methods, {member('charge_id')} "
                         "|| '.source') WHEN 'gift_card' THEN json_set(payment_methods, "
                         f"{member('charge_id')} || '.amount', json(envhub_json_number(json_extract(payment_methods, "
                         f"{member('charge_id')} || '.amount') - :charge_amount))) WHEN 'certificate' THEN "
                         "json_remove(payment_methods, "
                         f"{member('charge_id')}) ELSE payment_methods END WHERE user_id = :user_id"},
            ]},
            {"for_each": FLIGHT_INFOS, "as": "seat", "steps": [
                {"exec": "UPDATE flights SET dates = json_set(dates, '$.\"' || :seat_date || '\".available_seats.' "
                         "|| :cabin, json_extract(dates, '$.\"' || :seat_date || '\".available_seats.' || :cabin) "
                         "- :n_passengers) WHERE flight_number = :seat_flight_number"},
            ]},
            {"exec": "INSERT INTO reservations (reservation_id, user_id, origin, destination, flight_type, cabin, flights, "
                     "passengers, payment_history, created_at, total_baggages, nonfree_baggages, insurance, status) "
                     "VALUES (:reservation_id, :user_id, :origin, :destination, :flight_type, :cabin, json(:new_flights), "
                     "(SELECT json_group_array(json_object('first_name', json_extract(value, '$.first_name'), "
                     "'last_name', json_extract(value, '$.last_name'), 'dob', json_extract(value, '$.dob'))) "
                     "FROM json_each(:passengers)), (SELECT json_group_array(json_object('payment_id', "
                     "json_extract(value, '$.payment_id'), 'amount', json(envhub_json_number(json_extract(value, '$.amount'))))) "
                     "FROM json_each(:payment_methods)), :now, :total_baggages, :nonfree_baggages, :insurance, NULL)"},
            {"exec": "UPDATE users SET reservations = json_insert(reservations, '$[#]', :reservation_id) "
                     "WHERE user_id = :user_id"},
        ], entity_result(reservations, "reservation_id")),
    }


def _onestop_query(next_day: str) -> str:
    """Pairs (first leg from origin on date, second leg from its destination to destination, leaving
    after the first arrives; on the next day when the first arrives '+1')."""
    first = _direct_flights(":origin", "NULL", "date", None)
    second_inst = "json_extract(f.dates, '$.\"' || x.date2 || '\"')"
    return (
        "SELECT json_group_array(json_array(json(a), json(b))) FROM (SELECT "
        + _direct_json("x", ":date") + " AS a, json_object('flight_number', f.flight_number, 'origin', f.origin, "
        "'destination', f.destination, 'status', 'available', 'scheduled_departure_time_est', "
        "f.scheduled_departure_time_est, 'scheduled_arrival_time_est', f.scheduled_arrival_time_est, 'date', x.date2, "
        f"'available_seats', json(json_extract({second_inst}, '$.available_seats')), "
        f"'prices', json(json_extract({second_inst}, '$.prices'))) AS b "
        f"FROM (SELECT first.*, CASE WHEN instr(first.scheduled_arrival_time_est, '+1') > 0 THEN {next_day} "
        f"ELSE :date END AS date2 FROM ({first}) first) x JOIN flights f ON f.origin = x.destination "
        f"AND f.destination = :destination AND json_extract({second_inst}, '$.status') = 'available' "
        "AND f.scheduled_departure_time_est >= x.scheduled_arrival_time_est ORDER BY x.position, f.rowid)"
    )
