"""A demo legacy OS portal: HTML forms, a session cookie, paginated history, injectable faults."""

from local.portal import control
from local.portal.server import PortalServer

__all__ = ["PortalServer", "control"]
