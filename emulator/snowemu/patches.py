"""What the layer changes inside fakesnow: NULL timestamps and session time zones in Arrow results,
COPY from internal stages, CSV fields read as text, temporary tables kept per session.

fakesnow.arrow.timestamp_to_sf_struct builds timestamp structs that strict Arrow readers
(arrow-rs) reject when a value is NULL, and assumes TIMESTAMP_TZ values are in UTC; the patch
here replaces it for every fakesnow module that bound it. build_app applies it once.
"""

from __future__ import annotations

import sys

import pyarrow as pa
import pyarrow.compute as pc


def patch_timestamp_struct() -> None:
    """Give fakesnow's timestamp structs a struct-level validity bitmap and any session time zone.

    fakesnow.arrow.timestamp_to_sf_struct builds StructArray.from_arrays(...) without a mask, so
    a NULL timestamp leaves NULLs in children declared non-nullable, which strict arrow readers
    (arrow-rs) reject. We fill the NULL slots with 0 before conversion and put the NULLs on the
    struct itself. It also asserts that TIMESTAMP_TZ values are in UTC; a session whose TIMEZONE
    the layer applied to duckdb gets them in that zone, so we convert to UTC and put each value's
    offset in the `timezone` child (minutes + 1440, as Snowflake encodes it).
    """
    import fakesnow.arrow as fa

    original = getattr(fa.timestamp_to_sf_struct, "__wrapped_original__", fa.timestamp_to_sf_struct)

    def zone_offsets(ts: pa.Array) -> pa.Array:
        """Minutes east of UTC of each value in its array's zone, + 1440 (NULLs as 1440)."""
        per_minute = {"s": 60, "ms": 60_000, "us": 60_000_000, "ns": 60_000_000_000}[ts.type.unit]
        local = pc.local_timestamp(ts).cast(pa.int64())
        utc = ts.cast(pa.timestamp(ts.type.unit)).cast(pa.int64())
        minutes = pc.divide(pc.subtract(local, utc), per_minute)
        return pc.add(minutes, 1440).fill_null(1440).cast(pa.int32())

    def timestamp_to_sf_struct(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        if not pa.types.is_timestamp(ts.type):
            return original(ts)
        offsets = None
        if ts.type.tz and ts.type.tz != "UTC":
            offsets = zone_offsets(ts)
            ts = ts.cast(pa.timestamp(ts.type.unit, "UTC"))
        if ts.null_count == 0 and offsets is None:
            return original(ts)
        mask = ts.is_null()  # True where NULL; has no nulls itself
        struct = original(ts.fill_null(pa.scalar(0, type=ts.type)))
        children = [struct.field(i) for i in range(struct.type.num_fields)]
        if offsets is not None:
            children[2] = offsets
        return pa.StructArray.from_arrays(children, fields=list(struct.type), mask=mask if ts.null_count else None)

    timestamp_to_sf_struct.__wrapped_original__ = original  # type: ignore[attr-defined]
    # to_sf looks the function up as a module global of fakesnow.arrow, but patch any module
    # that bound the name with `from fakesnow.arrow import timestamp_to_sf_struct` too.
    for name, module in list(sys.modules.items()):
        if (name == "fakesnow" or name.startswith("fakesnow.")) and getattr(
            module, "timestamp_to_sf_struct", None
        ) is original:
            setattr(module, "timestamp_to_sf_struct", timestamp_to_sf_struct)


def patch_copy_files() -> None:
    """Let `COPY INTO ... FROM @stage FILES = ('name')` read an internal stage.

    fakesnow.copy_into._source_urls parses the stage as a URL and refuses a local directory
    ("invalid URL prefix"), so FILES worked only for external stages. Snowflake takes FILES for
    any stage; the names join the stage's directory.
    """
    import os

    import fakesnow.copy_into as ci
    import fakesnow.transforms.stage as fs_stage

    original = getattr(ci._source_urls, "__wrapped_original__", ci._source_urls)

    def _source_urls(source: str, files: list[str]) -> list[str]:
        if fs_stage.is_internal(source):
            return [os.path.join(source, f) for f in files]
        return original(source, files)

    _source_urls.__wrapped_original__ = original  # type: ignore[attr-defined]
    ci._source_urls = _source_urls


def patch_csv_reads() -> None:
    """Read CSV fields the way Snowflake does: as text, cast by the target column's type.

    fakesnow's read_csv lets DuckDB sniff each column's type, so a text column of digits
    ("007") loads as the number 7, and DuckDB turns a quoted empty string into NULL when ''
    is a null string. Snowflake never sniffs, and `""` is an empty string: all_varchar and
    allow_quoted_nulls = false say the same to DuckDB.
    """
    import fakesnow.copy_into as ci
    from sqlglot import exp

    original = getattr(ci.ReadCSV.read_expression, "__wrapped_original__", ci.ReadCSV.read_expression)

    def read_expression(self: ci.ReadCSV, url: str) -> exp.Expr:
        call = original(self, url)
        call.append("expressions", self.make_eq("all_varchar", True))
        if self.quote:
            call.append("expressions", self.make_eq("allow_quoted_nulls", False))
        return call

    read_expression.__wrapped_original__ = original  # type: ignore[attr-defined]
    ci.ReadCSV.read_expression = read_expression


def patch_temporary_tables() -> None:
    """Keep temporary tables out of the catalog every session shares.

    fakesnow records each table a CREATE makes (its comment, NULL without one) in
    _fs_tables_ext, keyed by database, schema and name, and runs every MERGE through a temporary
    table of one fixed name, merge_candidates. Two sessions whose first MERGEs in a database meet
    both insert that key, and DuckDB fails the second commit (000603, duplicate key). Snowflake's
    temporary tables belong to their session, so concurrent MERGEs never collide there: a
    temporary table without a comment is not recorded.
    """
    import fakesnow.transforms as ft
    from sqlglot import exp

    original = getattr(ft.extract_comment_on_table, "__wrapped_original__", ft.extract_comment_on_table)

    def extract_comment_on_table(expression: exp.Expr) -> exp.Expr:
        new = original(expression)
        recorded = new.args.get("table_comment")
        if recorded and recorded[1] is None and new.find(exp.TemporaryProperty):
            del new.args["table_comment"]
        return new

    extract_comment_on_table.__wrapped_original__ = original  # type: ignore[attr-defined]
    ft.extract_comment_on_table = extract_comment_on_table
