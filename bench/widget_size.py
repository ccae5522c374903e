"""The widget's weight on a fleet's page: its JS and CSS as served (minified at serve time by widget/pages.py),
gzipped, beside the source (widget.js: widget/script/ joined) as a baseline (budget: 15 KB gzipped together, as served).

    python bench/widget_size.py
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from widget.pages import served_bytes, source_text  # noqa: E402

BUDGET = 15 * 1024


def _gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9))  # the same gzip -9 a web server would use


def main() -> None:
    totals = {"source": 0, "served": 0}
    for name in ("widget.js", "widget.css"):
        source, served = _gz(source_text(name).encode()), _gz(served_bytes(name))
        totals["source"] += source
        totals["served"] += served
        print(f"{name:<11} {served:>6} bytes gzipped as served   (source file: {source:>6})")
    share = 100 * totals["served"] / BUDGET
    print(f"{'together':<11} {totals['served']:>6} bytes gzipped as served   (source file: {totals['source']:>6}); "
          f"{share:.0f}% of the 15 KB budget")
    # Third-party hosts are not loaded at all (see the browser tests).


if __name__ == "__main__":
    main()
