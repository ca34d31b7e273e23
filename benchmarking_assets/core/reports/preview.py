"""A small PNG of a report's percentiles among peers (matplotlib, Agg), for run metadata."""

from __future__ import annotations

import io
import re

from benchmarking_assets.core.reports.content import ReportData


def percentile_chart_png(report: ReportData) -> bytes:
    """A horizontal bar per metric: the district's percentile among its peers (50 = middle)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(m.info.label, m.percentile_rank) for m in report.metrics if m.percentile_rank]
    fig, ax = plt.subplots(figsize=(6, 0.35 * max(len(rows), 1) + 1.1), dpi=80)
    ax.barh([r[0] for r in rows][::-1], [r[1] for r in rows][::-1], color="#1f4e79")
    for x in (25, 50, 75):
        ax.axvline(x, color="#999999", lw=0.8, ls="--")
    ax.set_xlim(0, 100)
    ax.set_xlabel("percentile among peers (50 = middle)")
    # parse_math=False: a "$" in a district name is a dollar sign, not the start of TeX math
    name = re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", report.lea_name or "")  # no glyph to draw
    title = f"{name} ({report.state_code}), {report.year}"
    ax.set_title(title, fontsize=10, parse_math=False)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
