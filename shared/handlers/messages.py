"""Sending commands: a shared.domain.commands command onto its stage's queue through the bus port."""

from __future__ import annotations

from shared.bootstrap import Services, queue_name
from shared.domain.commands import BaseCommand, outgoing_message
from shared.domain.records import OutgoingMessage


def send_outgoing(services: Services, outgoing: OutgoingMessage) -> None:
    """Put a prepared message on its queue (the configured name of its logical queue)."""
    services.bus.send(
        queue_name(outgoing.queue),
        outgoing.body,
        message_id=outgoing.message_id,
        session_id=outgoing.session_id,
        properties=outgoing.properties,
    )


def send(services: Services, message: BaseCommand) -> None:
    """Put the message on its stage's queue. Idempotent thanks to the deterministic message id."""
    send_outgoing(services, outgoing_message(message))
