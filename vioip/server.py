"""The server vioip's workers run: daphne, with its timeout pass spread out.

``python -m vioip.server`` takes daphne's arguments (``-b``, ``-p``, ``--ping-interval``…)
and serves the same way, with one difference. daphne checks every connection in one
callback every two seconds, and there sends each WebSocket the keepalive ping it is due
(every ``--ping-interval``, 20 s). A room worker holding 5,000 sockets sent about 500 pings
in that one callback: its event loop stalled 30 to 50 ms every two seconds, and the rooms'
chat waited behind it (bench/NOTES.md, twelfth round). Here the pass runs over a tenth of
the connections every fifth of a second. Each connection is still checked every two
seconds, pings and ping timeouts keep their meaning, and no callback holds the loop for
more than a tenth of the work.
"""

from __future__ import annotations

# daphne.server installs Twisted's asyncio reactor when it is imported: first, as daphne's
# own command line does.
from daphne import server as daphne_server  # isort:skip
from daphne.cli import CommandLineInterface

# The passes one round of checks is split into, one every TIMEOUT_ROUND_SECONDS / SLICES.
SLICES = 10
TIMEOUT_ROUND_SECONDS = 2.0


class Server(daphne_server.Server):
    _slice = 0

    def timeout_checker(self) -> None:
        """daphne's timeout pass over every connection, a slice at a time. A connection that
        closes meanwhile may move to another slice: at worst it is checked a round late."""
        connections = list(self.connections)
        for protocol in connections[self._slice % SLICES :: SLICES]:
            protocol.check_timeouts()
        self._slice += 1
        daphne_server.reactor.callLater(TIMEOUT_ROUND_SECONDS / SLICES, self.timeout_checker)


class CommandLine(CommandLineInterface):
    server_class = Server


def main() -> None:
    CommandLine.entrypoint()


if __name__ == "__main__":
    main()
