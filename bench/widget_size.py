"""The widget's weight on a fleet's page: its JS and CSS as served, raw and gzipped (budget: 15 KB gzipped together).

    python bench/widget_size.py
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from widget.pages import served_text  # noqa: E402

STATIC = ROOT / "widget" / "static"
BUDGET = 15 * 1024


def main() -> None:
    total_raw = total_gz = file_gz = 0
    for name in ("widget.js", "widget.css"):
        source = (STATIC / name).read_text(encoding="utf-8")
        data = served_text(name, source).encode()
        packed = len(gzip.compress(data, compresslevel=9))
        as_file = len(gzip.compress(source.encode(), compresslevel=9))
        total_raw += len(data)
        total_gz += packed
        file_gz += as_file
        print(f"{name:<11} {len(data):>7} bytes raw  {packed:>6} bytes gzipped  (the file as written: {as_file})")
    share = 100 * total_gz / BUDGET
    print(f"{'together':<11} {total_raw:>7} bytes raw  {total_gz:>6} bytes gzipped ({share:.0f}% of the 15 KB budget;"
          f" the files as written: {file_gz})")
    # The same gzip -9 a web server would use; third-party hosts are not loaded at all (see the browser tests).


if __name__ == "__main__":
    main()
