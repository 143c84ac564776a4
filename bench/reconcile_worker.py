"""One reconciler worker for the benchmark: sweep until nothing is due, report rows and memory.

Run by ``bench.bench reconciler`` (several at once for the multi-worker figure); prints one
JSON line: orders examined, seconds, and the resident memory sampled after every batch.
"""

import json
import resource
import sys
import time

from bench import stack


def _high_water_kb() -> int:
    for line in open("/proc/self/status").read().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    import os

    stack.setup_django(dict(os.environ))
    from payments.reconcile import reconcile_pending_orders

    samples: list[tuple[int, int]] = []
    examined = 0

    def progress(line: str) -> None:
        nonlocal examined
        examined = int(line.split()[0])
        samples.append((examined, stack.rss_kb(os.getpid())))

    started = time.monotonic()
    summary = reconcile_pending_orders(
        batch_size=int(sys.argv[1]) if len(sys.argv) > 1 else None, progress=progress
    )
    elapsed = time.monotonic() - started
    print(
        json.dumps(
            {
                "examined": summary.examined,
                "outcomes": dict(summary.outcomes),
                "errors": summary.errors[:5],
                "seconds": elapsed,
                "rss_samples_kb": samples[:: max(1, len(samples) // 20)] + samples[-1:],
                # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
                "peak_rss_kb": _high_water_kb(),
            }
        )
    )


if __name__ == "__main__":
    main()
