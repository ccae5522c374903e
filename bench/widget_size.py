"""The widget's weight on a fleet's page: its JS and CSS, raw and gzipped (budget: 15 KB gzipped together).

    python bench/widget_size.py
"""

from __future__ import annotations

import gzip
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "widget" / "static"
BUDGET = 15 * 1024


def main() -> None:
    total_raw = total_gz = 0
    for name in ("widget.js", "widget.css"):
        data = (STATIC / name).read_bytes()
        packed = len(gzip.compress(data, compresslevel=9))
        total_raw += len(data)
        total_gz += packed
        print(f"{name:<11} {len(data):>7} bytes raw  {packed:>6} bytes gzipped")
    share = 100 * total_gz / BUDGET
    print(f"{'together':<11} {total_raw:>7} bytes raw  {total_gz:>6} bytes gzipped ({share:.0f}% of the 15 KB budget)")
    # The same gzip -9 a web server would use; third-party hosts are not loaded at all (see the browser tests).


if __name__ == "__main__":
    main()
