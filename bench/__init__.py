"""Room benchmark: vioip's live rooms against the Python floor and the Channels tutorial chat.

Run ``python -m bench.rooms`` (``--help`` for the sizes); see bench/RESULTS.md.
"""
