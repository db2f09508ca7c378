"""The package's import graph (every ``import jaxstyle...`` statement, at any depth, read with ``ast``): no cycles,
and the weights package never reaches the network code."""

import ast
import pathlib

import jaxstyle

ROOT = pathlib.Path(jaxstyle.__file__).parent


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("jaxstyle", *path.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _graph() -> dict[str, set[str]]:
    """Module -> the jaxstyle modules it imports (``from pkg import name`` counts ``pkg.name`` when that is a module).
    Entry points (``__main__`` modules and ``if __name__ == "__main__":`` blocks) are left out: no import runs them."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        if name.endswith("__main__"):
            continue
        deps = set()
        tree = ast.parse(path.read_text())
        tree.body = [n for n in tree.body if not (isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("jaxstyle")}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxstyle"):
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    deps.add(sub if sub in modules else node.module)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for d in graph.get(todo.pop(), ()):
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def test_graph_sees_the_known_imports():
    graph = _graph()
    assert "jaxstyle.weights.store" in graph["jaxstyle.nn.vgg"]
    assert "jaxstyle.nn.vgg" in graph["jaxstyle.nn.calibrate"]


def test_no_import_cycles():
    graph = _graph()
    cycles = sorted(m for m in graph if m in _reachable(graph, m))
    assert not cycles, f"modules that import themselves through others: {cycles}"


def test_weights_never_reach_the_network():
    graph = _graph()
    for m in graph:
        if m.startswith("jaxstyle.weights"):
            bad = {d for d in _reachable(graph, m) if d.startswith(("jaxstyle.nn", "jaxstyle.models"))}
            assert not bad, f"{m} reaches {sorted(bad)}"
