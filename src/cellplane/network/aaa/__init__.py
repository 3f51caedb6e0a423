"""The AAA: a RADIUS server (RFC 2865/2866, TS 29.061 §16) deciding attaches from in-memory SIM policy, turning
accounting into data sessions and usage in group-committed batches, and ending sessions with RFC 5176
Disconnect-Requests when the rules change.

Layout (codec, handlers, dispatcher, server apart): the codec is protocols/radius; attributes.py translates
packets; handlers.py holds one handler per message and the dispatch tables; dispatcher.py is the UDP endpoint;
core.py the state and decisions; writer.py the group commit; disconnect.py the RFC 5176 client side;
refresher.py keeps the cache current; server.py assembles the component.
"""

from .config import AaaConfig, parse_clients, parse_dae_targets
from .server import AaaServer

__all__ = ["AaaConfig", "AaaServer", "parse_clients", "parse_dae_targets"]
