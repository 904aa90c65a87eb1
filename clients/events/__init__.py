"""Client of the gateway's event log and live stream."""

from clients.events.client import EventsClient
from clients.events.schemas import EventRead

__all__ = ["EventRead", "EventsClient"]
