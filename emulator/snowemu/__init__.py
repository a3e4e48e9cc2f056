"""snowemu: the Snowflake emulator of the local stack, a layer over fakesnow's server.

    python -m snowemu --host 127.0.0.1 --port 8123 [--realistic]   the server (__main__.py)
    python -m snowemu.bootstrap_aws http://127.0.0.1:PORT          moto's resources for the stack

server.py       the layer: Snowflake's response shapes, sessions, designated users, /_emulator/*
in_progress.py  statements that outlive their query-request (in-progress answers, polls, aborts)
chunked.py      chunked results on a second listener standing in for S3
parameters.py   session parameters and the hostile account defaults
digest.py       the digest of this package's code, to tell a stale running emulator

The package is not named `snowflake`, so the connector's `snowflake` package stays importable
beside it. What each behaviour does: ../README.md.
"""
