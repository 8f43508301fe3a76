"""The machine's yardstick: a fixed piece of work timed now, printed beside every benchmark's figures so that figures
taken on different machines or at different hours can be compared (a busy or slower machine shows a longer
yardstick, and the figures beside it are to be read in its light).

    python3 dev.py bench yardstick

The work, in a fresh process with one native thread: Python bytecode (a loop over integers), NumPy (a sort), and
scikit-learn (a HistGradientBoosting fit on a fixed generated table), the three things the pipelines spend their time
on. Printed: each part's best of three seconds, and their sum.
"""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.runner import REPO_ROOT

WORK = """
import json, time
import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

def python_part():
    total = 0
    for i in range(6_000_000):
        total += i % 7
    return total

def numpy_part():
    np.sort(np.random.default_rng(0).normal(size=8_000_000))

rng = np.random.default_rng(1)
X = rng.normal(size=(200_000, 8))
y = np.sin(X[:, 0] * 2) + X[:, 1] ** 2 + rng.normal(scale=0.3, size=len(X))

def sklearn_part():
    HistGradientBoostingRegressor(max_iter=60, early_stopping=False, random_state=0).fit(X, y)

best = {}
for _ in range(3):
    for name, part in (("python", python_part), ("numpy", numpy_part), ("sklearn", sklearn_part)):
        began = time.perf_counter()
        part()
        best[name] = min(best.get(name, float("inf")), time.perf_counter() - began)
best["total"] = sum(best.values())
print(json.dumps(best))
"""


def measure() -> dict[str, float]:
    """The yardstick's seconds now: each part's best of three and their sum."""
    done = subprocess.run(
        [sys.executable, "-c", WORK],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def line(figures: dict[str, float] | None = None) -> str:
    figures = figures or measure()
    return (
        f"yardstick {figures['total']:.2f} s (python {figures['python']:.2f}, numpy {figures['numpy']:.2f}, "
        f"scikit-learn {figures['sklearn']:.2f}; see benchmarks/yardstick.py)"
    )


def main(argv: list[str] | None = None) -> None:
    print(line())


if __name__ == "__main__":
    main(sys.argv[1:])
