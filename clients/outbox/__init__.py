"""Client of the outbox every event-emitting service serves to the gateway (internal, internal token)."""

from clients.outbox.client import OutboxClient
from clients.outbox.schemas import OutboxAck, OutboxBatch, OutboxEvent

__all__ = ["OutboxAck", "OutboxBatch", "OutboxClient", "OutboxEvent"]
