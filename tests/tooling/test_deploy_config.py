"""deploy/gunicorn.conf.py, the web servers' settings: what scripts/run and the README rely on.

Read as gunicorn reads it (a Python file); no server is started here (the benchmark and
scripts/run start it).
"""

import runpy
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"
RUN = CONFIG.parents[1] / "scripts" / "run"


@pytest.fixture
def config(monkeypatch):
    for name in ("WEB_WORKERS", "WEB_THREADS", "DB_POOL_SIZE"):
        monkeypatch.delenv(name, raising=False)
    return runpy.run_path(str(CONFIG))


def test_threaded_workers_on_loopback(config):
    assert config["worker_class"] == "gthread"
    assert config["wsgi_app"] == "shop.wsgi:application"
    # gunicorn's own default would be 0.0.0.0:$PORT when PORT is set (scripts/run's is).
    assert config["bind"] == ["127.0.0.1:8000"]
    assert config["control_socket_disable"] is True


def test_threads_share_a_smaller_pool_of_connections(config):
    assert config["threads"] > config["pool_size"] > 0
    assert config["raw_env"] == [f"DB_POOL_SIZE={config['pool_size']}"]


def test_sizes_follow_the_environment(monkeypatch):
    monkeypatch.setenv("WEB_WORKERS", "3")
    monkeypatch.setenv("WEB_THREADS", "20")
    monkeypatch.setenv("DB_POOL_SIZE", "0")
    config = runpy.run_path(str(CONFIG))
    assert (config["workers"], config["threads"], config["raw_env"]) == (3, 20, ["DB_POOL_SIZE=0"])


def test_a_stop_finishes_before_scripts_run_kills(config):
    # scripts/run waits 15 s for everything to stop before SIGKILL.
    assert config["graceful_timeout"] < 15
    assert "seq 30" in RUN.read_text()  # 30 x 0.5 s


def test_scripts_run_serves_with_this_file():
    text = RUN.read_text()
    assert "-c deploy/gunicorn.conf.py" in text
    assert '--bind "127.0.0.1:$PORT"' in text
    assert "manage.py runserver" not in text
