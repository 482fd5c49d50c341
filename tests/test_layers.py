"""The package's layers (src/mnist_sweep/__init__.py): each imports only the layers below it, and no
module imports itself back through others. Read from the source (every import, also those inside
functions), so a new import that breaks the order fails here before anyone draws the graph."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mnist_sweep"
# Lowest first: io.py and data.py, then config/ ... planning/.
LAYERS = {"io": 0, "data": 0, "config": 1, "cluster": 2, "training": 3, "analysis": 4, "planning": 5}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The mnist_sweep modules a file imports (from mnist_sweep.x import y: x.y when that is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mnist_sweep"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("mnist_sweep")}
    return found - {"mnist_sweep"}


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def layer(module: str) -> int:
    return LAYERS[module.split(".")[1]]


def test_every_module_is_in_a_layer():
    loose = [name for name in MODULES if name != "mnist_sweep" and name.split(".")[1] not in LAYERS]
    assert not loose, f"modules outside the layers: {loose}"
    assert all(target in MODULES for targets in GRAPH.values() for target in targets)


@pytest.mark.parametrize("module", sorted(name for name in MODULES if name != "mnist_sweep"))
def test_a_module_imports_only_its_layer_and_those_below(module):
    upward = sorted(target for target in GRAPH[module] if layer(target) > layer(module))
    assert not upward, f"{module} (layer {layer(module)}) imports {upward} from a higher layer"


def test_no_import_circle():
    """Depth-first search over the module graph: a module reached again on its own path is a circle."""
    state = {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                raise AssertionError(" -> ".join(path[path.index(target):] + [target]))
            if target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_the_layer_check_sees_a_violation():
    """The check is not vacuous: training.trainer imports cluster.deadline (a lower layer, allowed), and an
    import the other way would be flagged."""
    assert "mnist_sweep.cluster.deadline" in GRAPH["mnist_sweep.training.trainer"]
    assert layer("mnist_sweep.training.trainer") > layer("mnist_sweep.cluster.deadline")
