"""Console output of the runs: timestamped progress lines, the final report's frame,
results.json.
"""

import json
import time
from contextlib import contextmanager

from bench import stack


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextmanager
def framed(title: str):
    """Print a report between ``==== title ====`` and a rule as wide."""
    top = f"{'=' * 20} {title} {'=' * 20}"
    print("\n" + top)
    yield
    print("=" * len(top))


def save_results(results: dict[str, dict]) -> None:
    """Merge these figures into ``var/bench/results.json`` (the latest of each benchmark)."""
    out = stack.VAR / "results.json"
    previous = json.loads(out.read_text()) if out.exists() else {}
    previous.update(results)
    out.write_text(json.dumps(previous, indent=2, default=str))
