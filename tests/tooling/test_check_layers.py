"""scripts/check-layers on toy trees: what it lets through and what it stops.

Each test builds a tree of small packages in tmp_path, with this repository's own
pyproject.toml (so its real contracts are the ones checked), and runs the script on it.
No database: these are plain functions.
"""

import shutil
import subprocess
import textwrap
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK_LAYERS = REPO / "scripts" / "check-layers"
ROOT_PACKAGES = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"][
    "root_packages"
]

# A tree that keeps the rule: every import goes down a layer (one of them inside a function),
# the leaves import nothing of the project, only stripe_gateway imports stripe, and the tools
# may import anything.
CLEAN = {
    "shop.urls": "from payments import webhooks\nfrom shop import views\n",
    "shop.views": "from catalog.models import Product\nfrom orders import services\n",
    "payments.webhooks": "from orders import services\n",
    "payments.reconcile": (
        "from orders.models import Order\n\n\ndef sweep():\n    from orders import services\n"
    ),
    "orders.models": "from catalog.models import Product\n",
    "orders.services": (
        "from catalog.models import Product\nfrom orders.models import Order\n"
        "from qworker import runner\nfrom stripe_gateway import client\n"
    ),
    "catalog.models": "from stripe_gateway import client\n",
    "stripe_gateway.client": "import stripe\n",
    "qworker.runner": "import os\n",
    "devtools.server": "from shop import urls\n",
    "bench.chaos": "from devtools import server\nfrom orders import services\n",
}


def make_tree(tmp_path: Path, modules: dict[str, str], *, leave_out: tuple[str, ...] = ()) -> Path:
    """Write the root packages and the given modules (dotted name -> source) under tmp_path."""
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    for package in ROOT_PACKAGES:
        if package not in leave_out:
            (tmp_path / package).mkdir()
            (tmp_path / package / "__init__.py").write_text("")
    for dotted, source in modules.items():
        *packages, name = dotted.split(".")
        folder = tmp_path.joinpath(*packages)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return tmp_path


def check_layers(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHECK_LAYERS), str(tree)], capture_output=True, text=True, timeout=300, check=False
    )


def test_tree_that_keeps_the_layers_and_has_no_cycle_passes(tmp_path):
    result = check_layers(make_tree(tmp_path, CLEAN))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout
    assert "No import cycles." in result.stdout
    assert result.stdout.rstrip().endswith("check-layers: OK: layers kept, no import cycles.")


@pytest.mark.parametrize(
    ("importer", "source", "expected"),
    [
        (
            "orders.refunds",
            "import os\nfrom payments import webhooks\n",
            [
                "orders is not allowed to import payments:",
                "orders.refunds -> payments.webhooks (l.2)",
            ],
        ),
        (
            "catalog.cart",
            "def total():\n    from orders.models import Order\n",
            ["catalog is not allowed to import orders:", "catalog.cart -> orders.models (l.2)"],
        ),
        (
            "stripe_gateway.errors",
            "from qworker import runner\n",
            [
                "stripe_gateway is not allowed to import qworker:",
                "stripe_gateway.errors -> qworker.runner (l.1)",
            ],
        ),
        (
            "qworker.brokers",
            "from devtools import server\n",
            ["qworker is not allowed to import devtools:", "qworker.brokers -> devtools.server"],
        ),
        (
            "payments.gateway",
            "import stripe\n",
            ["payments is not allowed to import stripe:", "payments.gateway -> stripe (l.1)"],
        ),
    ],
    ids=[
        "orders-imports-payments",
        "catalog-imports-orders-in-a-function",
        "leaf-imports-leaf",
        "leaf-imports-a-tool",
        "stripe-outside-stripe_gateway",
    ],
)
def test_import_against_the_layers_fails_and_names_the_import(tmp_path, importer, source, expected):
    result = check_layers(make_tree(tmp_path, {**CLEAN, importer: source}))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    for line in expected:
        assert line in result.stdout
    assert "No import cycles." in result.stdout
    assert "check-layers: FAILED: import-linter contracts broken." in result.stdout


def test_two_modules_importing_each_other_fail(tmp_path):
    tree = make_tree(
        tmp_path,
        {
            **CLEAN,
            "orders.models": "from catalog.models import Product\nfrom orders import selectors\n",
            "orders.selectors": "from orders.models import Order\n",
        },
    )

    result = check_layers(tree)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout  # within one layer: only a cycle
    assert "2 modules import each other: orders.models, orders.selectors" in result.stdout
    assert "  orders.models -> orders.selectors -> orders.models\n" in result.stdout
    assert "orders.models -> orders.selectors: l.2 `from orders import selectors`" in result.stdout
    assert "orders.selectors -> orders.models: l.1 `from orders.models import Order`" in (
        result.stdout
    )
    assert "check-layers: FAILED: 1 import cycle(s)." in result.stdout


def test_three_module_cycle_through_an_import_inside_a_function_fails(tmp_path):
    tree = make_tree(
        tmp_path,
        {
            **CLEAN,
            "orders.outbox": "from orders import services\n",
            "orders.services": "import logging\n\nfrom orders.tasks import schedule\n",
            "orders.tasks": """\
                def schedule():
                    pass


                def dispatch(message_id):
                    from orders.outbox import send

                    send(message_id)
                """,
        },
    )

    result = check_layers(tree)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "3 modules import each other: orders.outbox, orders.services, orders.tasks" in (
        result.stdout
    )
    assert "  orders.outbox -> orders.services -> orders.tasks -> orders.outbox\n" in result.stdout
    assert "orders.outbox -> orders.services: l.1 `from orders import services`" in result.stdout
    assert "orders.services -> orders.tasks: l.3 `from orders.tasks import schedule`" in (
        result.stdout
    )
    assert "orders.tasks -> orders.outbox: l.6 `from orders.outbox import send`" in result.stdout
    assert "check-layers: FAILED: 1 import cycle(s)." in result.stdout


def test_cycle_across_packages_is_reported_with_the_upward_import(tmp_path):
    tree = make_tree(
        tmp_path,
        {**CLEAN, "orders.models": "from catalog.models import Product\nfrom shop import views\n"},
    )

    result = check_layers(tree)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "orders is not allowed to import shop:" in result.stdout
    assert "  orders.models -> shop.views -> orders.services -> orders.models\n" in result.stdout
    assert (
        "check-layers: FAILED: import-linter contracts broken; 1 import cycle(s)." in result.stdout
    )


def test_missing_package_of_the_layout_fails_but_the_rest_is_still_checked(tmp_path):
    modules = {name: source for name, source in CLEAN.items() if not name.startswith("catalog.")}
    modules["orders.models"] = "from payments import webhooks\n"
    tree = make_tree(tmp_path, modules, leave_out=("catalog",))

    result = check_layers(tree)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "catalog: named in [tool.importlinter] root_packages, but catalog/__init__.py" in (
        result.stdout
    )
    assert "orders.models -> payments.webhooks (l.1)" in result.stdout
    assert "check-layers: FAILED: 1 missing package(s); import-linter contracts broken" in (
        result.stdout
    )
