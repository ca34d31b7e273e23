"""Small helpers that turn frames into Dagster metadata (row counts, previews, NULL counts)."""

from __future__ import annotations

import re
from typing import Any

import dagster as dg
import polars as pl

# Characters that would end a table cell, start HTML, code or math, or escape the next one.
_MARKDOWN_SPECIAL = re.compile(r"([\\|$<>`*_\[\]])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape_markdown(text: str) -> str:
    """``text`` shown literally in a markdown table cell: control characters (a newline would
    end the row) become spaces, markdown's special characters are backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _CONTROL.sub(" ", text))


def markdown_table(df: pl.DataFrame, max_rows: int = 10, float_digits: int = 2) -> str:
    """A GitHub-markdown table of the first rows (Polars has no ``to_markdown``)."""
    head = df.head(max_rows)
    if not head.columns:
        return "_(no columns)_"

    def fmt(v: Any) -> str:
        if v is None:
            return "∅"
        if isinstance(v, float):
            return f"{v:,.{float_digits}f}"
        return escape_markdown(str(v))

    lines = [
        "| " + " | ".join(head.columns) + " |",
        "| " + " | ".join("---" for _ in head.columns) + " |",
    ]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in head.iter_rows()]
    if df.height > max_rows:
        lines.append(f"\n_{max_rows} of {df.height:,} rows_")
    return "\n".join(lines)


def null_counts(df: pl.DataFrame) -> dict[str, int]:
    return {c: int(n) for c, n in zip(df.columns, df.null_count().row(0), strict=True)}


def frame_metadata(df: pl.DataFrame, preview_rows: int = 5) -> dict[str, dg.MetadataValue]:
    """Row count, column schema and a preview: what every asset reports."""
    return {
        "dagster/row_count": dg.MetadataValue.int(df.height),
        "dagster/column_schema": dg.MetadataValue.table_schema(
            dg.TableSchema(
                columns=[dg.TableColumn(name, str(dtype)) for name, dtype in df.schema.items()]
            )
        ),
        "preview": dg.MetadataValue.md(markdown_table(df, preview_rows)),
    }
