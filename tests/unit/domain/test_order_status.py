"""The order state machine."""

from __future__ import annotations

import itertools

from orderflow.domain.orders.status import SAGA_OWNED, TRANSITIONS, OrderStatus, can_transition


def test_every_status_has_a_row_and_terminal_states_are_final() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    for final in (OrderStatus.FAILED, OrderStatus.CANCELLED, OrderStatus.DELIVERED):
        assert not TRANSITIONS[final]


def test_happy_path_and_refusals() -> None:
    path = [
        OrderStatus.PENDING,
        OrderStatus.PROCESSING,
        OrderStatus.CONFIRMED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
    ]
    assert all(can_transition(a, b) for a, b in itertools.pairwise(path))
    assert not can_transition(OrderStatus.PENDING, OrderStatus.CONFIRMED)
    assert not can_transition(OrderStatus.SHIPPED, OrderStatus.CANCELLED)
    assert OrderStatus.CONFIRMED in SAGA_OWNED and OrderStatus.CANCELLED not in SAGA_OWNED
