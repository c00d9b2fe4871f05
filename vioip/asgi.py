"""ASGI entry point: HTTP to Django, WebSockets through the origin check to the rooms."""

import gc
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vioip.settings")

# daphne's --proxy-headers replaces the peer address (and the scheme) with whatever any
# client puts in X-Forwarded-For: the audit trail and the login throttle would believe
# forged addresses, and the application could not tell afterwards. Trusted proxies are
# configured in the application instead (VIOIP_TRUSTED_PROXIES).
if "--proxy-headers" in sys.argv:
    raise SystemExit(
        "vioip: do not run daphne with --proxy-headers; list the proxy in "
        "VIOIP_TRUSTED_PROXIES instead (docs/security.md)."
    )

# Django must be set up before anything imports models.
from vioip.core.asgi_http import get_http_application, load_urlconf

django_asgi_app = get_http_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from sessions_app.rooms import drain  # noqa: E402
from vioip.core.http_limit import ConcurrencyLimit  # noqa: E402
from vioip.core.process_role import protocols_for_role  # noqa: E402
from vioip.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    # HTTP workers and room workers run apart in production (VIOIP_PROCESS_ROLE).
    protocols_for_role(
        settings.PROCESS_ROLE,
        http=ConcurrencyLimit(django_asgi_app),
        # Rooms authenticate with a one-time ticket in the query string (see the rooms
        # app); long-lived tokens never travel in URLs.
        websocket=AllowedHostsOriginValidator(
            URLRouter(websocket_urlpatterns)  # type: ignore[arg-type]
        ),
    )
)

# An HTTP worker imports its views now, not on the first request (a room worker serves
# only its health probes and needs none of them).
if settings.PROCESS_ROLE in ("all", "http"):
    load_urlconf()

# A room worker told to stop (SIGTERM) closes its sockets with 4012 first, so clients
# reconnect to another worker at once with their place kept (sessions_app/rooms/drain.py).
if settings.PROCESS_ROLE in ("all", "rooms"):
    drain.install_on_sigterm()

# Everything loaded so far (Django, the apps, the rooms' routing and imports) lives as long as the
# process: move it out of the cyclic collector's view. With thousands of room consumers the
# collector's full passes over these objects dominated tail latency.
gc.collect()
gc.freeze()

# The event loop and the database thread share the GIL. A thread that gives it up for a
# round trip to PostgreSQL waits for the switch interval (5 ms by default) to get it back
# while the loop is busy, several times per query: measured, most of a chat message's
# latency. A shorter interval hands the GIL back sooner. An HTTP worker keeps Python's own
# interval (settings.SWITCH_INTERVAL says why).
sys.setswitchinterval(settings.SWITCH_INTERVAL)  # VIOIP_SWITCH_INTERVAL
