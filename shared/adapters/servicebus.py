"""The Bus port on Azure Service Bus: what intake and every stage use to hand an order to the next queue.

The Functions Python output binding cannot set message id or session id, so sending goes through the
azure-servicebus SDK; receiving stays with the Functions triggers (sessions, lock renewal, completion).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import (
    OperationTimeoutError,
    ServiceBusCommunicationError,
    ServiceBusConnectionError,
    ServiceBusError,
    ServiceBusServerBusyError,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.adapters.claimcheck import BlobClaimCheck, azure_credential, require
from shared.errors import ConfigError, RetryableError

if TYPE_CHECKING:
    from azure.servicebus import ServiceBusClient

# Standard tier caps a message at 256 KB including headers and properties: bodies above 192 KB go to a
# blob and the message carries the reference.
CLAIM_CHECK_BYTES = 192 * 1024
CLAIM_CHECK_PROPERTY = "claim_check"
# Service Bus limits message id and session id to 128 characters.
MAX_ID_CHARS = 128
_RETRYABLE = (ServiceBusConnectionError, OperationTimeoutError, ServiceBusServerBusyError, ServiceBusCommunicationError)


class Sender(Protocol):
    """The part of azure.servicebus.ServiceBusSender this adapter uses (tests pass a recorder)."""

    def send_messages(self, message: ServiceBusMessage) -> None: ...

    def create_message_batch(self) -> object: ...

    def close(self) -> None: ...


def trace_properties() -> dict[str, str]:
    """W3C traceparent/tracestate of the current span, for a message's application properties.

    Diagnostic-Id carries the same traceparent: it is the property the Functions host reads to
    continue a trace on the receiving side.
    """
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    if "traceparent" in carrier:
        carrier["Diagnostic-Id"] = carrier["traceparent"]
    return carrier


def message_id_for(event_key: str) -> str:
    """The event key as message id, hashed when longer than Service Bus allows (duplicate detection
    compares ids, so the same key always maps to the same id)."""
    if len(event_key) <= MAX_ID_CHARS:
        return event_key
    return hashlib.sha256(event_key.encode()).hexdigest()


def resolve_body(
    body: bytes, application_properties: Mapping[object, object] | None, claim_checks: BlobClaimCheck | None
) -> bytes:
    """The real body of a received message: itself, or the blob its claim-check property names."""
    properties = application_properties or {}
    reference = properties.get(CLAIM_CHECK_PROPERTY) or properties.get(CLAIM_CHECK_PROPERTY.encode())
    if not reference:
        return body
    name = reference.decode() if isinstance(reference, bytes) else str(reference)
    return require(claim_checks, "a claim-checked message").get(name)


class ServiceBusBus:
    """Bus on Service Bus: one sender per queue, created on first use and kept."""

    def __init__(self, sender_factory: Callable[[str], Sender], claim_checks: BlobClaimCheck | None = None) -> None:
        self._sender_factory = sender_factory
        self._claim_checks = claim_checks
        self._senders: dict[str, Sender] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def claim_checks(self) -> BlobClaimCheck | None:
        """Where bodies over the size limit go; receiving stages read them back with resolve_body."""
        return self._claim_checks

    @classmethod
    def from_client(cls, client: ServiceBusClient, claim_checks: BlobClaimCheck | None = None) -> ServiceBusBus:
        return cls(client.get_queue_sender, claim_checks)

    @classmethod
    def from_settings(cls, env: Mapping[str, str] | None = None) -> ServiceBusBus:
        """The same settings the Functions triggers use: ServiceBusConnection__fullyQualifiedNamespace
        (+ __clientId of the user-assigned identity) in Azure, a ServiceBusConnection connection string
        elsewhere."""
        from azure.servicebus import ServiceBusClient

        env = os.environ if env is None else env
        namespace = env.get("ServiceBusConnection__fullyQualifiedNamespace", "")
        connection = env.get("ServiceBusConnection", "")
        if namespace:
            client_id = env.get("ServiceBusConnection__clientId") or env.get("AZURE_CLIENT_ID", "")
            credential = azure_credential({**env, "AZURE_CLIENT_ID": client_id})
            client = ServiceBusClient(namespace, credential)
        elif connection.startswith("Endpoint="):
            client = ServiceBusClient.from_connection_string(connection)
        else:
            raise ConfigError(
                "BUS_BACKEND=servicebus needs ServiceBusConnection__fullyQualifiedNamespace (Azure) "
                "or a ServiceBusConnection connection string"
            )
        return cls.from_client(client, BlobClaimCheck.from_settings(env))

    def _sender(self, queue: str) -> tuple[Sender, threading.Lock]:
        with self._guard:
            if queue not in self._senders:
                self._senders[queue] = self._sender_factory(queue)
                self._locks[queue] = threading.Lock()
            return self._senders[queue], self._locks[queue]

    def build_message(
        self,
        queue: str,
        body: bytes,
        *,
        message_id: str,
        session_id: str | None = None,
        scheduled_at: datetime | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> ServiceBusMessage:
        """The message send() would put on the queue (claim check applied, trace context added)."""
        if session_id is not None and len(session_id) > MAX_ID_CHARS:
            raise ValueError(f"session id is {len(session_id)} characters; Service Bus allows {MAX_ID_CHARS}")
        if scheduled_at is not None and scheduled_at.tzinfo is None:
            raise ValueError("scheduled_at must be timezone-aware")
        application_properties: dict[str, str] = {**(properties or {}), **trace_properties()}
        if len(body) > CLAIM_CHECK_BYTES:
            reference = require(self._claim_checks, f"a {len(body)}-byte message").put(body, f"messages/{queue}")
            application_properties[CLAIM_CHECK_PROPERTY] = reference
            body = b""
        return ServiceBusMessage(
            body,
            message_id=message_id_for(message_id),
            session_id=session_id,
            scheduled_enqueue_time_utc=scheduled_at.astimezone(UTC) if scheduled_at is not None else None,
            application_properties=application_properties,  # type: ignore[arg-type]
            content_type="application/json",
        )

    def send(
        self,
        queue: str,
        body: bytes,
        *,
        message_id: str,
        session_id: str | None = None,
        scheduled_at: datetime | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """Send one message; Service Bus drops a repeat of message_id within the duplicate-detection window.

        Raises RetryableError for passing faults (connection, timeout, server busy).
        """
        message = self.build_message(
            queue, body, message_id=message_id, session_id=session_id, scheduled_at=scheduled_at, properties=properties
        )
        sender, lock = self._sender(queue)
        try:
            # A sender is not safe for concurrent use; functions run in a thread pool.
            with lock:
                sender.send_messages(message)
        except _RETRYABLE as exc:
            raise RetryableError(f"Service Bus send to {queue} failed: {exc.__class__.__name__}") from exc
        except ServiceBusError as exc:
            if getattr(exc, "_retryable", False):
                raise RetryableError(f"Service Bus send to {queue} failed: {exc.__class__.__name__}") from exc
            raise

    def ping(self, queues: Sequence[str]) -> None:
        """Open a new sender link to each queue and close it, sending nothing: creating the first batch asks
        Service Bus for the link's size limit, which needs the namespace reachable, the queue present and the
        Send right. New links, because a kept sender asks only once and would go on answering from memory."""
        for queue in queues:
            sender = self._sender_factory(queue)
            try:
                sender.create_message_batch()
            finally:
                sender.close()

    def close(self) -> None:
        with self._guard:
            for sender in self._senders.values():
                sender.close()
            self._senders.clear()
            self._locks.clear()
