"""The gate verdict and transitions of PolicyState (pure)."""

from __future__ import annotations

from orderflow_operator import conditions as cond
from orderflow_operator.checks import CheckResult
from orderflow_operator.crd.models import PolicySpec
from orderflow_operator.state import PolicyState

SPEC = PolicySpec.from_dict(
    {
        "targetRef": {"name": "api"},
        "dependencies": [
            {"name": "db", "type": "postgres", "address": "db:5432"},
            {"name": "cache", "type": "redis", "address": "cache:6379"},
            {"name": "otel", "type": "otlp", "address": "otel:4317", "critical": False},
        ],
    }
)
UP, DOWN = CheckResult(True, 1.0), CheckResult(False, 2.0, "ConnectionRefusedError: nope")


def _state() -> PolicyState:
    state = PolicyState()
    state.sync_spec(SPEC)
    return state


def test_unknown_until_every_critical_dependency_was_checked() -> None:
    state = _state()
    assert state.record("db", UP, "t") is False, "first healthy result is not a transition"
    assert state.verdict().open is None
    state.record("cache", UP, "t")
    assert state.verdict().open is True


def test_one_critical_failure_closes_the_gate_and_names_it() -> None:
    state = _state()
    for name in ("db", "cache", "otel"):
        state.record(name, UP, "t")
    assert state.record("cache", DOWN, "t") is True
    verdict = state.verdict()
    assert verdict.open is False
    assert verdict.reason == "DependencyUnhealthy"
    assert "cache" in verdict.message and "ConnectionRefusedError" in verdict.message


def test_a_failure_closes_the_gate_even_before_other_first_checks() -> None:
    state = _state()
    assert state.record("db", DOWN, "t") is True, "down at startup is news"
    assert state.verdict().open is False


def test_non_critical_failure_is_reported_but_does_not_gate() -> None:
    state = _state()
    for name in ("db", "cache"):
        state.record(name, UP, "t")
    state.record("otel", DOWN, "t")
    assert state.verdict().open is True
    state.set(cond.PROBES_CONFIGURED, cond.TRUE, "Configured", "", 1)
    state.refresh_dependency_conditions(1)
    deps = cond.find(state.conditions, cond.DEPENDENCIES_HEALTHY)
    assert deps is not None
    assert deps["status"] == cond.TRUE
    assert "non-critical unhealthy: otel" in deps["message"]
    assert cond.status_of(state.conditions, cond.READY) == cond.TRUE
    assert state.summary() == "2/3"


def test_ready_follows_dependencies_and_probes() -> None:
    state = _state()
    state.refresh_dependency_conditions(1)
    assert cond.status_of(state.conditions, cond.READY) == cond.UNKNOWN
    state.set(cond.PROBES_CONFIGURED, cond.FALSE, "TargetNotFound", "Deployment api not found", 1)
    state.refresh_ready(1)
    ready = cond.find(state.conditions, cond.READY)
    assert ready is not None
    assert (ready["status"], ready["reason"]) == (cond.FALSE, "TargetNotFound")


def test_spec_edits_keep_unchanged_dependencies_health() -> None:
    state = _state()
    state.record("db", UP, "t")
    edited = PolicySpec.from_dict(
        {
            "targetRef": {"name": "api"},
            "dependencies": [
                {"name": "db", "type": "postgres", "address": "db:5432", "intervalSeconds": 30},
                {"name": "cache", "type": "redis", "address": "other:6379"},
            ],
        }
    )
    state.record("cache", UP, "t")
    state.sync_spec(edited)
    assert set(state.dependencies) == {"db", "cache"}
    assert state.dependencies["db"].healthy is True, "only the interval changed"
    assert state.dependencies["cache"].healthy is None, "a new address is a new dependency"


def test_status_never_contains_secret_values() -> None:
    spec = PolicySpec.from_dict(
        {
            "targetRef": {"name": "api"},
            "dependencies": [
                {"name": "db", "type": "postgres", "secretRef": {"name": "creds", "key": "dsn"}}
            ],
        }
    )
    state = PolicyState()
    state.sync_spec(spec)
    state.record("db", UP, "2026-01-01T00:00:00Z")
    [dep] = state.render_status(1)["dependencies"]
    assert dep == {
        "name": "db",
        "type": "postgres",
        "address": "secret creds/dsn",
        "critical": True,
        "healthy": True,
        "latencyMs": 1,
        "lastCheck": "2026-01-01T00:00:00Z",
    }


def test_restart_does_not_announce_known_health_again() -> None:
    state = PolicyState()
    state.seed({
        "dependencies": [
            {"name": "db", "address": "db:5432", "healthy": True, "lastCheck": "t"},
            {"name": "cache", "address": "cache:6379", "healthy": False, "lastCheck": "t"},
            {"name": "otel", "address": "elsewhere:4317", "healthy": False, "lastCheck": "t"},
        ],
    })  # fmt: skip
    state.sync_spec(SPEC)
    assert state.verdict().open is None, "seeded health never decides the gate"
    assert state.record("db", UP, "t") is False
    assert state.record("cache", DOWN, "t") is False, "still down: already announced"
    assert state.record("otel", DOWN, "t") is True, "another address: a new dependency"
    assert state.verdict().open is False
