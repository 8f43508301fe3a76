"""Benchmarks: programs that print figures and ratios (never timed assertions).

python -m benchmarks.month      # one train/validate pair: ours vs the course script vs the read floor
python -m benchmarks.scaling    # 1, 3 and 9 training months, validated on 2024-03
python -m benchmarks.backfill   # 12 flight months through Dagster with 1 and 2 processes
"""
