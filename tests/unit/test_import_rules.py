"""The layering rules a newcomer relies on, enforced on the source tree.

Why as tests: an import cycle or a deployment name in the generic plumbing creeps back one
convenient import at a time; read from the files (ast), these fail on the commit that adds it.
- No import cycle among the project's modules, counting imports inside functions too (a lazy
  import hides a cycle from the interpreter, not from the reader).
- ``streams/`` is generic Kafka plumbing: no module there imports ``torghut_domain`` and no file
  there names Torghut (its envelopes, topic catalog and formats live in ``torghut_domain/``).
- No module in ``streams/`` or ``consumers/`` is over ``MAX_MODULE_LINES`` lines (issue 12: one
  concept per module).
- ``torghut_client/`` is the library Torghut imports: it depends on the plumbing and the domain's
  record contracts, never on a consumer, a producer, the simulator or the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("streams", "torghut_domain", "consumers", "torghut_client", "producers", "simulator", "microexec")
MAX_MODULE_LINES = 420


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (``from package import module`` counts as the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_import_graph_sees_the_project_imports() -> None:
    graph = _graph()
    assert "streams.serde" in graph["torghut_domain.fast_path"]
    assert "streams.processor" in graph["streams.serde"]


def test_no_import_cycle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_streams_does_not_import_the_domain() -> None:
    graph = _graph()
    offenders = {name: sorted(t for t in targets if t.startswith("torghut_domain"))
                 for name, targets in graph.items() if name.startswith("streams")}
    assert {name: t for name, t in offenders.items() if t} == {}


def test_streams_names_no_torghut() -> None:
    hits = [f"{path.relative_to(ROOT)}:{number}"
            for path in sorted((ROOT / "streams").rglob("*")) if path.is_file()
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
            if "torghut" in line.lower()]
    assert hits == []


def test_streams_and_consumer_modules_stay_small() -> None:
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
             for package in ("streams", "consumers") for path in sorted((ROOT / package).rglob("*.py"))}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_the_client_library_depends_on_no_application_package() -> None:
    graph = _graph()
    forbidden = ("consumers", "producers", "simulator", "microexec")
    offenders = {name: sorted(t for t in targets if t.split(".")[0] in forbidden)
                 for name, targets in graph.items() if name.startswith("torghut_client")}
    assert {name: t for name, t in offenders.items() if t} == {}
