"""The actors. Each is a thin async adapter over an idempotent domain operation.

Connections are created lazily inside Dramatiq's event-loop thread: asyncio connection pools
belong to the loop that made them.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import dramatiq
import structlog

from orderflow.domain import notifications
from orderflow.domain.notifications import SEND_EMAIL_ACTOR
from orderflow.domain.orders.saga import SEND_NOTIFICATION_ACTOR, OrderSaga
from orderflow.domain.orders.service import PROCESS_ORDER_ACTOR
from orderflow.resources import Resources
from orderflow.worker.broker import EMAIL_QUEUE, NOTIFICATIONS_QUEUE, ORDERS_QUEUE
from orderflow.worker.email import HttpEmailSender

if TYPE_CHECKING:
    from dramatiq import Broker

    from orderflow.settings import Settings

log = structlog.get_logger(__name__)
# Actor name -> queue; the relay needs only this table to publish outbox events.
QUEUES = {
    PROCESS_ORDER_ACTOR: ORDERS_QUEUE,
    SEND_NOTIFICATION_ACTOR: NOTIFICATIONS_QUEUE,
    SEND_EMAIL_ACTOR: EMAIL_QUEUE,
}


class ActorContext:
    """Connections used by actors, opened on first use in the worker's event loop. They live as
    long as the process: Dramatiq stops that loop only after its threads, when exit closes them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._resources: Resources | None = None
        self._sender: HttpEmailSender | None = None

    @property
    def resources(self) -> Resources:
        if self._resources is None:
            self._resources = Resources.open(self.settings)
        return self._resources

    @property
    def sender(self) -> HttpEmailSender | None:
        """None when no provider is configured (``EMAIL_SINK_URL`` empty)."""
        if self._sender is None and self.settings.email.sink_url:
            self._sender = HttpEmailSender(
                self.settings.email.sink_url, self.settings.email.timeout_seconds
            )
        return self._sender


def register_actors(broker: Broker, context: ActorContext) -> None:
    async def process_order(order_id: str) -> None:
        resources = context.resources
        saga = OrderSaga(
            resources.sessions,
            resources.cache,
            context.settings.worker.payment_failure_rate,
            context.settings.worker.payment_latency_ms / 1000,
        )
        await saga.process(uuid.UUID(order_id))

    async def send_notification(order_id: str) -> None:
        async with context.resources.sessions() as session:
            await notifications.compose(session, uuid.UUID(order_id))

    async def send_email(key: str) -> None:
        sender = context.sender
        if sender is None:
            # A finished job, not a failure: retrying cannot make a provider appear, and
            # dead-lettered emails would page someone for a configuration choice.
            log.warning("email not sent: no provider configured (EMAIL_SINK_URL)", key=key)
            return
        async with context.resources.sessions() as session:
            await notifications.deliver(session, key, sender)

    for fn, name in (
        (process_order, PROCESS_ORDER_ACTOR),
        (send_notification, SEND_NOTIFICATION_ACTOR),
        (send_email, SEND_EMAIL_ACTOR),
    ):
        dramatiq.actor(actor_name=name, queue_name=QUEUES[name], broker=broker)(fn)
