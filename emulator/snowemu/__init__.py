"""snowemu: the Snowflake emulator of the local stack, a layer over fakesnow's server.

    python -m snowemu --host 127.0.0.1 --port 8123 [--realistic]   the server (__main__.py)
    python -m snowemu.bootstrap_aws http://127.0.0.1:PORT          moto's resources for the stack

server.py       the app: each request routed to the part that owns it, fakesnow's app behind
realism.py      which real-Snowflake behaviours are on (the --realistic flags)
login.py        a session's life: login, renewal, close, the session of a token
queries.py      the query-request: the session's queue, refusals, ALTER SESSION, SQL rewrites
results.py      fakesnow's answers shaped as Snowflake's (fields, errors, JSON format, chunks)
statements.py   polls, aborts and monitoring of in-progress statements
control.py      the /_emulator/* endpoints for tests
faults.py       the faults tests arm per user, and their injection
wire.py         Snowflake's error codes and texts, designated users, the reading of SQL text
state.py        the in-memory state: sessions, master tokens, recordings
asgi.py         request bodies and tokens, JSON answers, fakesnow's app with its answer captured
patches.py      the patch of fakesnow's Arrow timestamps
in_progress.py  statements that outlive their query-request (in-progress answers, polls, aborts)
chunked.py      chunked results on a second listener standing in for S3
parameters.py   session parameters and the hostile account defaults
digest.py       the digest of this package's code, to tell a stale running emulator

The package is not named `snowflake`, so the connector's `snowflake` package stays importable
beside it. What each behaviour does: ../README.md.
"""
