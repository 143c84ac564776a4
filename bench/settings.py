"""The shop's own settings plus one no-database view, the baseline the benchmarks compare to."""

from shop.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
