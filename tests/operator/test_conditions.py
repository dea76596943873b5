"""Condition merging (pure): one condition changes, the others and their times stay."""

from __future__ import annotations

from orderflow_operator import conditions as cond


def test_new_condition_gets_the_time_and_generation() -> None:
    merged, changed = cond.set_condition(
        [], cond.READY, cond.TRUE, "Ready", "ok", generation=3, now="2026-01-01T00:00:00Z"
    )
    assert changed
    assert merged == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "Ready",
            "message": "ok",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
            "observedGeneration": 3,
        }
    ]


def test_same_status_keeps_transition_time_but_takes_new_message() -> None:
    first, _ = cond.set_condition(
        [], cond.READY, cond.FALSE, "A", "one", now="2026-01-01T00:00:00Z"
    )
    second, changed = cond.set_condition(
        first, cond.READY, cond.FALSE, "B", "two", now="2026-01-01T00:05:00Z"
    )
    assert not changed
    assert second[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert (second[0]["reason"], second[0]["message"]) == ("B", "two")


def test_status_change_moves_transition_time() -> None:
    first, _ = cond.set_condition([], cond.READY, cond.FALSE, "A", "", now="2026-01-01T00:00:00Z")
    second, changed = cond.set_condition(
        first, cond.READY, cond.TRUE, "A", "", now="2026-01-01T00:05:00Z"
    )
    assert changed
    assert second[0]["lastTransitionTime"] == "2026-01-01T00:05:00Z"


def test_other_conditions_are_kept_and_order_is_stable() -> None:
    conditions: list[dict[str, object]] = []
    for type_ in (cond.PROBE_MISUSE, cond.DEPENDENCIES_HEALTHY, cond.READY, cond.PROBES_CONFIGURED):
        conditions, _ = cond.set_condition(conditions, type_, cond.TRUE, "R", "m", now="t0")
    conditions, _ = cond.set_condition(
        conditions, cond.DEPENDENCIES_HEALTHY, cond.FALSE, "Down", "redis", now="t1"
    )
    assert [c["type"] for c in conditions] == [
        cond.READY,
        cond.DEPENDENCIES_HEALTHY,
        cond.PROBES_CONFIGURED,
        cond.PROBE_MISUSE,
    ]
    assert [c["lastTransitionTime"] for c in conditions] == ["t0", "t1", "t0", "t0"]
    assert cond.status_of(conditions, cond.DEPENDENCIES_HEALTHY) == cond.FALSE
    assert cond.status_of(conditions, "Nope") == cond.UNKNOWN
