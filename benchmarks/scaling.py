"""How cost grows with the training set: 1, 3 and 9 real green months, each validated on 2024-03.

    python -m benchmarks.scaling [--tlc-dir DIR] [--repeat 1] [--with-xgboost]

The nine months (2021-01..03, 2022-01..03, 2023-01..03) cross the TLC schema change at 2023-02.
Prints time and peak RSS per pipeline and size, and their growth per training row against 1 month
(at most 1.0 means no worse than linear).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.runner import SHARED_TLC, print_table, run_pipeline

MONTHS = ["2021-01", "2021-02", "2021-03", "2022-01", "2022-02", "2022-03", "2023-01", "2023-02", "2023-03"]
SIZES = {"1 month": MONTHS[:1], "3 months": MONTHS[:3], "9 months": MONTHS}
VALID = "2024-03"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tlc-dir", type=Path, default=SHARED_TLC)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--with-xgboost", action="store_true", help="also the course XGBoost variant (minutes)"
    )
    args = parser.parse_args(argv)
    path = lambda m: str(args.tlc_dir / f"green_tripdata_{m}.parquet")  # noqa: E731
    names = ["ours", "course_lr"] + (["course_xgboost"] if args.with_xgboost else [])
    table: dict[str, dict[str, dict]] = {name: {} for name in names}
    for size, months in SIZES.items():
        print(f"--- train on {size} ({months[0]}..{months[-1]}), validate on {VALID}")
        results = {
            name: run_pipeline(name, [path(m) for m in months], path(VALID), repeat=args.repeat)
            for name in names
        }
        print_table(results)
        print()
        for name in names:
            table[name][size] = results[name]
    print("growth against 1 month: (cost ratio) / (training-row ratio); <= 1.0 is at most linear")
    for name in names:
        one = table[name]["1 month"]
        for size in ("3 months", "9 months"):
            r = table[name][size]
            rows = r["train_rows"] / one["train_rows"]
            time_growth = r["seconds"]["total"] / one["seconds"]["total"] / rows
            # memory above the imports: what the data costs
            mem_one = one["peak_rss_mb"] - one["after_imports_mb"]
            mem = r["peak_rss_mb"] - r["after_imports_mb"]
            print(
                f"  {name:<15}{size:>9}: rows x{rows:.2f}, time x{r['seconds']['total'] / one['seconds']['total']:.2f} "
                f"(per row {time_growth:.2f}), working memory x{mem / mem_one:.2f} (per row "
                f"{mem / mem_one / rows:.2f}), "
                f"RMSE {r['rmse']:.3f}"
            )


if __name__ == "__main__":
    main()
