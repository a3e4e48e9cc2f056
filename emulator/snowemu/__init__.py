"""snowemu: the Snowflake emulator of the local stack, a layer over fakesnow's server.

    python -m snowemu --host 127.0.0.1 --port 8123 [--realistic]   the server (__main__.py)
    python -m snowemu.bootstrap_aws http://127.0.0.1:PORT          moto's resources for the stack

server.py       the layer: login, query-requests, sessions' life, the /_emulator/* endpoints
wire.py         Snowflake's error codes and texts, designated users, the reading of SQL text
state.py        the in-memory state: sessions, master tokens, armed faults, recordings
asgi.py         request bodies and tokens, JSON answers, fakesnow's app with its answer captured
patches.py      the patch of fakesnow's Arrow timestamps
in_progress.py  statements that outlive their query-request (in-progress answers, polls, aborts)
chunked.py      chunked results on a second listener standing in for S3
parameters.py   session parameters and the hostile account defaults
digest.py       the digest of this package's code, to tell a stale running emulator

The package is not named `snowflake`, so the connector's `snowflake` package stays importable
beside it. What each behaviour does: ../README.md.
"""
