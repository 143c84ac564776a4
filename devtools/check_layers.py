"""Check the package layers and forbid import cycles; `scripts/check-layers [DIR]` runs this.

Two checks, over the project in DIR (default: this repository):

1. The contracts in DIR/pyproject.toml, `[tool.importlinter]`, checked by import-linter: the
   layers shop > payments > orders > catalog > (stripe_gateway | qworker), the leaves importing
   no project package, and so on. Every root package named there must exist: one that does not
   is reported (and fails the check), and an empty stand-in takes its place for import-linter,
   so that the other contracts are still checked while the code is being moved.
2. No import cycle between any modules of the layered packages (those named in a `layers`
   contract), however long, counting imports inside functions: grimp records every import
   statement of a module, wherever it stands. import-linter 2.17 has no contract for that: its
   `acyclic_siblings` looks for cycles between the children of a package with each child's
   imports lumped together, so it would also reject two subpackages that depend on each other
   through different modules (orders.services.checkout -> orders.outbox ->
   orders.services.refunds, no module in a cycle), which the rule allows, and it names imports
   to cut rather than the cycle. So this runs on grimp's graph (import-linter's own), module by
   module: each strongly connected component of more than one module is a cycle group, printed
   as its shortest cycles with the line of each import.

Exit status 1 on any violation, 0 when everything holds.

Run as a file (not `python -m devtools.check_layers`): it must not import the packages it
checks, nor be shadowed by DIR's own `devtools` when DIR is another tree (tests/tooling).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import deque
from pathlib import Path

# import-linter prints through rich, which wraps at 80 columns when not on a terminal.
os.environ.setdefault("COLUMNS", "160")

import grimp  # noqa: E402
from importlinter import api as importlinter_api  # noqa: E402
from importlinter import cli as importlinter_cli  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project_dir", nargs="?", default=".", help="default: the current dir")
    args = parser.parse_args(argv)
    project = Path(args.project_dir).resolve()
    config_file = project / "pyproject.toml"

    # Analyse DIR's packages, not whatever else is importable (this file's own folder, or the
    # editable install's packages, which are found after sys.path).
    os.chdir(project)
    sys.path[0] = str(project)

    config = importlinter_api.read_configuration(str(config_file))
    roots = list(config["session_options"]["root_packages"])
    layered = _layered_packages(config["contracts_options"])
    missing = [name for name in roots if not (project / name / "__init__.py").is_file()]

    print(f"check-layers: {project}")
    print(f"  root packages: {', '.join(roots)}")
    print(f"  layered packages (checked for import cycles): {', '.join(layered)}")
    print()

    with tempfile.TemporaryDirectory(prefix="check-layers-") as stand_ins:
        for name in missing:
            (Path(stand_ins) / name).mkdir()
            (Path(stand_ins) / name / "__init__.py").write_text("")
        sys.path.insert(1, stand_ins)

        print("== import-linter contracts (pyproject.toml [tool.importlinter])")
        contracts_ok = (
            importlinter_cli.lint_imports(
                config_filename=str(config_file), no_cache=True, no_logo=True
            )
            == importlinter_cli.EXIT_STATUS_SUCCESS
        )
        present = [name for name in layered if name not in missing]
        exclude_type_checking = _is_true(
            config["session_options"].get("exclude_type_checking_imports", False)
        )
        cycles = _find_cycles(present, exclude_type_checking)

    print()
    print(f"== import cycles between modules of {', '.join(present) or '(none present)'}")
    if cycles:
        _print_cycles(cycles)
    else:
        print("No import cycles.")

    problems = []
    if missing:
        print()
        print("== missing packages")
        for name in missing:
            print(f"{name}: named in [tool.importlinter] root_packages, but {name}/__init__.py")
            print("  does not exist (an empty stand-in was used for the contracts above)")
        problems.append(f"{len(missing)} missing package(s)")
    if not contracts_ok:
        problems.append("import-linter contracts broken")
    if cycles:
        problems.append(f"{sum(len(c) for c in cycles)} import cycle(s)")
    print()
    if problems:
        print(f"check-layers: FAILED: {'; '.join(problems)}.")
        return 1
    print("check-layers: OK: layers kept, no import cycles.")
    return 0


def _layered_packages(contracts_options: list[dict]) -> list[str]:
    """Return the packages named in the layers contracts, top layer first."""
    names: list[str] = []
    for contract in contracts_options:
        if contract.get("type") != "layers":
            continue
        for layer in contract["layers"]:
            for part in layer.replace(":", "|").split("|"):
                name = part.strip().strip("()")
                if name and name not in names:
                    names.append(name)
    return names


def _is_true(value: object) -> bool:
    return str(value).lower() == "true"


def _find_cycles(
    packages: list[str], exclude_type_checking: bool
) -> list[list[list[tuple[str, str, list[dict]]]]]:
    """Return, for each set of modules that import each other, its shortest cycles.

    Each cycle is a list of (importer, imported, import details) steps; each set of modules
    gives one shortest cycle through each of its modules, without repeats.
    """
    if not packages:
        return []
    graph = grimp.build_graph(
        *packages, cache_dir=None, exclude_type_checking_imports=exclude_type_checking
    )
    modules = sorted(graph.modules)
    edges = {
        module: sorted(graph.find_modules_directly_imported_by(module) & graph.modules)
        for module in modules
    }
    result = []
    for component in _strongly_connected_components(modules, edges):
        if len(component) < 2:
            continue  # a module cannot import itself
        members = set(component)
        cycles: list[list[str]] = []
        for module in sorted(component):
            cycle = _shortest_cycle_through(module, edges, members)
            start = cycle.index(min(cycle))
            cycle = cycle[start:] + cycle[:start]
            if cycle not in cycles:
                cycles.append(cycle)
        result.append(
            [
                [
                    (a, b, graph.get_import_details(importer=a, imported=b))
                    for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True)
                ]
                for cycle in cycles
            ]
        )
    return result


def _strongly_connected_components(
    modules: list[str], edges: dict[str, list[str]]
) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a deep import chain must not hit the recursion limit)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = lowlink[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(edges[successor])))
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[node])
                if lowlink[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return sorted(components)


def _shortest_cycle_through(
    module: str, edges: dict[str, list[str]], members: set[str]
) -> list[str]:
    """Breadth-first search from `module` back to itself, within its component."""
    came_from: dict[str, str] = {}
    queue = deque([module])
    while queue:
        node = queue.popleft()
        for successor in edges[node]:
            if successor not in members:
                continue
            if successor == module:
                path = [node]
                while path[-1] != module:
                    path.append(came_from[path[-1]])
                return path[::-1]
            if successor not in came_from:
                came_from[successor] = node
                queue.append(successor)
    raise AssertionError(f"{module} is in a cycle but no path leads back to it")


def _print_cycles(components: list[list[list[tuple[str, str, list[dict]]]]]) -> None:
    for number, cycles in enumerate(components, start=1):
        modules = sorted({step[0] for cycle in cycles for step in cycle})
        count = len(modules)
        print(f"Cycle group {number}: {count} modules import each other: {', '.join(modules)}")
        for cycle in cycles:
            print("  " + " -> ".join([step[0] for step in cycle] + [cycle[0][0]]))
            for importer, imported, details in cycle:
                lines = ", ".join(
                    f"l.{detail['line_number']} `{detail['line_contents']}`"
                    for detail in sorted(details, key=lambda detail: detail["line_number"])
                )
                print(f"    {importer} -> {imported}: {lines}")
        print()


if __name__ == "__main__":
    sys.exit(main())
