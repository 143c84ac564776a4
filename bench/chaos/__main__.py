"""``python -m bench.chaos``: the chaos run's command line (``bench.chaos.run.main``)."""

import sys

from bench.chaos.run import main

if __name__ == "__main__":
    sys.exit(main())
