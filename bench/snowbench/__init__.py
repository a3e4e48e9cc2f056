"""snowbench: snowsync's throughput, memory and cold-start benchmark on the local stack.

Run it through scripts/bench (`python -m snowbench`); the phases and figures are described in
the README's "Benchmark" section.

__main__.py   the command line and the order of the phases
common.py     paths, the bench's tenant, users and tables, the log
procs.py      CPU seconds and peak RSS from /proc
measure.py    one measured run of snowsync, and its rates
emulator.py   the bench's own Snowflake emulator and a raw HTTP client of it
postgres.py   psql and COPY out
pull.py       seed, onboarding, and the pull phases (backfill, realistic, memory, incremental)
limits.py     the raw Snowflake-read and PostgreSQL-COPY limits
push.py       the push phase
coldstart.py  snowsync-pull under a fake Lambda runtime API
fanout.py     a backfill in K key ranges, one worker process each (peak RSS per worker, kills),
              and a tenant of 20 small tables pulled at once vs one at a time
report.py     the printed table
"""
