"""The airline constraint families: the registry the sampler draws from.

Each builder looks at one user's records and returns the pieces of one request (its explicit
constraint, the canonical reads and writes, the fuzzy descriptions, the user's side of it in
words) or None when nothing the user has fits; see :mod:`._airline_draft` for what keeps several
requests of one task independent of the order the agent handles them in.

Changes: ``book_reservation`` (:mod:`._airline_book`); ``cancel_reservation``, ``change_flights``,
``change_cabin``, ``add_bags``, ``update_passengers`` (:mod:`._airline_modify`);
``compensation_cancelled_flight`` and ``compensation_delayed_flight`` (the latter with the change
or cancellation it goes with), in :mod:`._airline_claims`.
Information: ``inform_flight_status``, ``inform_reservation``, ``inform_cheapest_fare``.
Refusals (the policy forbids the request; the records must not change):
``refuse_cancel_reservation``, ``refuse_change_basic_economy``, ``refuse_remove_bags``,
``refuse_add_insurance``, ``refuse_change_passenger_count``, ``refuse_compensation``.
"""

from __future__ import annotations

from collections.abc import Callable

from cove_async.tasks._airline_book import build_book
from cove_async.tasks._airline_claims import (
    build_compensation_cancelled,
    build_compensation_delayed,
    build_inform_cheapest,
    build_inform_reservation,
    build_inform_status,
    build_refuse_compensation,
)
from cove_async.tasks._airline_draft import (
    Draft,
    Piece,
    active_unflown,
    cancel_reasons,
    compensable,
)
from cove_async.tasks._airline_index import AirlineIndex
from cove_async.tasks._airline_modify import (
    build_add_bags,
    build_cancel,
    build_change_cabin,
    build_change_flights,
    build_refuse_cancel,
    build_refuse_change_basic,
    build_refuse_insurance,
    build_refuse_passenger_count,
    build_refuse_remove_bags,
    build_update_passengers,
)

__all__ = ("BUILDERS", "REFUSAL_FAMILIES", "UNIT_SIZE", "Draft", "Piece", "user_can")

# --- registry ---------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[Draft], list[Piece] | None]] = {
    "book_reservation": build_book,
    "cancel_reservation": build_cancel,
    "change_flights": build_change_flights,
    "change_cabin": build_change_cabin,
    "add_bags": build_add_bags,
    "update_passengers": build_update_passengers,
    "compensation_cancelled_flight": build_compensation_cancelled,
    "compensation_delayed_flight": build_compensation_delayed,
    "inform_flight_status": build_inform_status,
    "inform_reservation": build_inform_reservation,
    "inform_cheapest_fare": build_inform_cheapest,
    "refuse_cancel_reservation": build_refuse_cancel,
    "refuse_change_basic_economy": build_refuse_change_basic,
    "refuse_remove_bags": build_refuse_remove_bags,
    "refuse_add_insurance": build_refuse_insurance,
    "refuse_change_passenger_count": build_refuse_passenger_count,
    "refuse_compensation": build_refuse_compensation,
}
"""Sampling unit name to builder. A unit yields one constraint, or two for a delayed-flight
compensation (the change or cancellation it goes with, then the certificate or the refusal)."""

REFUSAL_FAMILIES = frozenset(name for name in BUILDERS if name.startswith("refuse_"))
UNIT_SIZE = dict.fromkeys(BUILDERS, 1) | {"compensation_delayed_flight": 2}


def user_can(index: AirlineIndex, family: str, uid: str) -> bool:
    """A quick test that ``uid`` has a record ``family`` could use (builders check the rest)."""
    if family in ("book_reservation", "inform_cheapest_fare"):
        return bool(index.route_days)
    user = index.users[uid]
    rs = [index.reservations[r] for r in index.user_reservations[uid]]
    live = [r for r in rs if active_unflown(index, r)]
    facts = index.facts
    tests: dict[str, Callable[[], bool]] = {
        "cancel_reservation": lambda: any(cancel_reasons(index, r)[0] for r in rs),
        "change_flights": lambda: any(r.cabin != "basic_economy" for r in live),
        "change_cabin": lambda: any(
            facts[r.reservation_id].active and facts[r.reservation_id].all_bookable for r in rs
        ),
        "add_bags": lambda: any(facts[r.reservation_id].consistent_bags for r in live),
        "update_passengers": lambda: bool(live),
        "compensation_cancelled_flight": lambda: any(
            facts[r.reservation_id].active and facts[r.reservation_id].airline_cancelled and compensable(user, r)
            for r in rs
        ),
        "compensation_delayed_flight": lambda: any(
            facts[r.reservation_id].delayed and compensable(user, r) for r in live
        ),
        "inform_flight_status": lambda: any(r.flights for r in rs),
        "inform_reservation": lambda: any(r.flights and facts[r.reservation_id].active for r in rs),
        "refuse_cancel_reservation": lambda: any(cancel_reasons(index, r)[1] for r in rs),
        "refuse_change_basic_economy": lambda: any(r.cabin == "basic_economy" for r in live),
        "refuse_remove_bags": lambda: any(r.total_baggages > 0 for r in live),
        "refuse_add_insurance": lambda: any(r.insurance == "no" for r in live),
        "refuse_change_passenger_count": lambda: bool(live),
        "refuse_compensation": lambda: any(
            facts[r.reservation_id].active
            and (
                facts[r.reservation_id].airline_cancelled
                or (facts[r.reservation_id].delayed and not facts[r.reservation_id].flown)
            )
            and not compensable(user, r)
            for r in rs
        ),
    }
    return tests[family]()
