"""No module of robust_synth imports one that (directly or not) imports it back, counting imports inside functions."""
import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parent.parent / "robust_synth"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, modules: set[str]) -> set[str]:
    """The robust_synth modules `path` imports; `from pkg import sub` counts as sub, not as pkg's __init__."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            subs = [f"{target}.{alias.name}" for alias in node.names]
            candidates = subs if all(s in modules for s in subs) else [target, *subs]
        else:
            continue
        found |= {c for c in candidates if c in modules and c != name}
    return found


def test_no_import_cycles():
    """Catches a cycle such as models <-> checkpoints, or a task module importing the package that imports it."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph((name, dep) for name, path in paths.items() for dep in imported(path, set(paths)))
    assert list(nx.simple_cycles(graph)) == []
