"""The emulator's command line: `python -m snowemu --host H --port P [--realistic ...]`.

Parses the flags (README.md lists them), sets up logging, and serves the layer of server.py
with uvicorn, plus the chunk listener of chunked.py when chunks are on.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback

from . import server
from .realism import REALISTIC_VALUES, Realism


def realism_from(args: argparse.Namespace) -> Realism:
    """The flags as a Realism: each flag given wins, --realistic fills the rest with test values."""
    realism = Realism(chunk_port=args.chunk_port, hostile_defaults=args.hostile_defaults or args.realistic)
    for name, test_value in REALISTIC_VALUES.items():
        given = getattr(args, name)
        setattr(realism, name, given if given is not None else (test_value if args.realistic else 0))
    return realism


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m snowemu", description=server.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--db-path",
        help="keep every database in DIR/<DATABASE>.db so it survives a restart (default: in memory)",
    )
    parser.add_argument(
        "--record-sql",
        action="store_true",
        help="keep every user's SELECT statements for GET /_emulator/queries?user= (benchmarks)",
    )
    real = parser.add_argument_group("real Snowflake behaviours (README.md); --realistic turns all on")
    real.add_argument("--realistic", action="store_true", help="all of the below, with their test values")
    real.add_argument("--async-after-ms", type=int, metavar="MS", help="answer 333333/333334 when a statement runs longer (realistic: 1000)")
    real.add_argument("--async-every", type=int, metavar="N", help="... and at once for every N-th query-request of a user (realistic: 5)")
    real.add_argument("--chunk-rows", type=int, metavar="N", help="split results of more rows into chunks (realistic: 100)")
    real.add_argument("--chunk-port", type=int, default=0, metavar="P", help="port of the chunk (S3) listener; 0 = a free port")
    real.add_argument("--chunk-faults", type=int, metavar="N", help="every N-th chunk GET answers 503, every (N+2)-th is cut (realistic: 7)")
    real.add_argument("--expire-every", type=int, metavar="N", help="every N-th query-request of a session finds it expired, 390112 (realistic: 40)")
    real.add_argument("--master-expire-every", type=int, metavar="M", help="every M-th renewal of a session answers 390114 (realistic: 3)")
    real.add_argument("--hostile-defaults", action="store_true", help="sessions start with a customer's hostile account defaults")
    return parser.parse_args()


def main() -> None:
    import uvicorn

    args = parse_args()

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    app = server.build_app(args.db_path, realism_from(args), args.record_sql)
    # fakesnow.server sets its own logger to INFO with uvicorn's handlers; follow our level
    logging.getLogger("fakesnow.server").setLevel(getattr(logging, args.log_level.upper(), logging.WARNING))
    uv = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level))

    async def serve() -> None:
        if app.chunks is not None:
            app.chunks.host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
            await app.chunks.start(args.chunk_port)
        await uv.serve()

    asyncio.run(serve())


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
    except Exception:  # pragma: no cover
        traceback.print_exc()
        sys.exit(1)
