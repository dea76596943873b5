"""Job metrics: enqueued, completed, failed, retried, dead-lettered, duration; queue depth and
the age of the oldest waiting message (read from Redis at collection time)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import msgspec
from dramatiq import Middleware
from opentelemetry.metrics import CallbackOptions, Observation
from redis import Redis
from redis.exceptions import RedisError

from orderflow.domain.telemetry import meter

if TYPE_CHECKING:
    from collections.abc import Iterable

    from dramatiq import Broker, Message
    from dramatiq.broker import MessageProxy

_enqueued = meter.create_counter("jobs.enqueued", unit="{job}", description="Messages sent")
_completed = meter.create_counter("jobs.completed", unit="{job}", description="Jobs that succeeded")
_failed = meter.create_counter(
    "jobs.failed", unit="{job}", description="Job attempts that raised (retried or not)"
)
_retried = meter.create_counter("jobs.retried", unit="{job}", description="Retries scheduled")
_dead = meter.create_counter(
    "jobs.dead_lettered", unit="{job}", description="Messages moved to the dead-letter queue"
)
_duration = meter.create_histogram(
    "jobs.duration",
    unit="s",
    description="Time an actor spent on one message",
    explicit_bucket_boundaries_advisory=[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
)


class JobMetrics(Middleware):
    def __init__(self) -> None:
        self._local = threading.local()

    @staticmethod
    def _labels(message: Message[Any] | MessageProxy) -> dict[str, str]:
        return {"job.actor": message.actor_name, "job.queue": message.queue_name}

    def after_enqueue(self, broker: Broker, message: Message[Any], delay: int) -> None:
        _enqueued.add(1, self._labels(message))
        if message.options.get("retries"):
            _retried.add(1, self._labels(message))

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        self._local.started = time.perf_counter()

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        labels = self._labels(message)
        _duration.record(time.perf_counter() - self._local.started, labels)
        if exception is None:
            _completed.add(1, labels)
        else:
            _failed.add(1, labels)

    def after_nack(self, broker: Broker, message: MessageProxy) -> None:
        # A nack after retries ran out (or a rejected message) is a dead letter on Redis.
        _dead.add(1, self._labels(message))


class QueueGauges:
    """Observable gauges over the Redis broker's keys: ``dramatiq:<queue>`` holds waiting
    message ids (pushed at the tail, fetched from the head: the oldest is at index 0),
    ``dramatiq:<queue>.msgs`` their bodies, ``dramatiq:<queue>.XQ`` the dead letters."""

    def __init__(self, redis_url: str, queues: Iterable[str], namespace: str = "dramatiq") -> None:
        self._redis = Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self._queues = sorted(set(queues))
        self._namespace = namespace
        meter.create_observable_gauge(
            "jobs.queue.depth", [self._depth], unit="{job}", description="Messages waiting"
        )
        meter.create_observable_gauge(
            "jobs.queue.oldest_age",
            [self._oldest_age],
            unit="s",
            description="Age of the oldest waiting message",
        )
        meter.create_observable_gauge(
            "jobs.dead_letter.depth",
            [self._dead_letters],
            unit="{job}",
            description="Messages in the dead-letter queue",
        )

    def _observe(self, probe: Any) -> list[Observation]:
        observations = []
        for queue in self._queues:
            try:
                value = probe(f"{self._namespace}:{queue}")
            except RedisError:
                continue  # no data beats a wrong zero while Redis is away
            observations.append(Observation(value, {"job.queue": queue}))
        return observations

    def _depth(self, _: CallbackOptions) -> Iterable[Observation]:
        return self._observe(self._redis.llen)

    def _dead_letters(self, _: CallbackOptions) -> Iterable[Observation]:
        return self._observe(lambda key: self._redis.zcard(f"{key}.XQ"))

    def _oldest_age(self, _: CallbackOptions) -> Iterable[Observation]:
        def age(key: str) -> float:
            oldest = self._redis.lindex(key, 0)
            if oldest is None:
                return 0.0
            body = self._redis.hget(f"{key}.msgs", oldest)
            if body is None:
                return 0.0
            stamp = float(msgspec.json.decode(body).get("message_timestamp", 0))
            return max(0.0, time.time() - stamp / 1000)

        return self._observe(age)
