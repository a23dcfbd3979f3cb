"""A demo legacy OS portal: HTML forms, a session cookie, paginated history, injectable faults.

``POST /_faults`` (``control.faults``) injects latency, 500s, 503s with Retry-After, hangs,
session expiry and layout drift, and the hostile modes: the login form's action, a 307
answer to the login or the "próxima" link pointing off-site (at an ``OffsiteServer``,
which counts what reaches it and whether the password did), a body dripped a few bytes
at a time, and a history of any length on one page (a 10 MB page). ``server`` documents
every key; ``GET /_stats`` counts requests and peak concurrency.
"""

from local.portal import control
from local.portal.offsite import OffsiteServer
from local.portal.server import PortalServer

__all__ = ["OffsiteServer", "PortalServer", "control"]
