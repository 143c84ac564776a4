"""The benchmarks, one module each: ``run(bench) -> figures`` and ``report(figures, args)``.

Run them with ``python -m bench.bench`` (``bench/bench.py``); ``context.Bench`` is the stack
they share.
"""
