"""The simulated portal's code (issue 14): its modules import one another without a cycle (every `import`
of simportal/, function-level ones too, read with `ast`: the graph is acyclic), and every function has a
return annotation; and every citation of docs/bitrix24-api-notes.md names a section that exists."""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = REPO / "simportal"
NOTES = REPO / "docs" / "bitrix24-api-notes.md"


def _modules() -> dict:
    """{dotted module name: path} of every module of the package (a package is its __init__)."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("simportal",) + path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _targets(name: str, path: Path, node: ast.AST, modules: dict) -> set:
    """The simportal modules one import statement names."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in modules}
    if node.level:
        base = package.split(".")
        base = base[:len(base) - node.level + 1]
        base = ".".join(base + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    found = set()
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        found.add(sub if sub in modules else base)
    return {m for m in found if m in modules}


def import_graph() -> dict:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= _targets(name, path, node, modules)
        graph[name] = edges - {name}
    return graph


def _cycle(graph: dict) -> list:
    """One import cycle as a list of modules, or [] when there is none."""
    state, stack = {}, []

    def visit(node: str) -> list:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_the_graph_is_read():
    graph = import_graph()
    assert "simportal.methods.registry" in graph["simportal.methods.legacy_lists"]
    assert "simportal.query" in graph["simportal.methods.legacy_lists"]
    assert "simportal.methods" in graph["simportal.portal"]


def test_no_module_of_simportal_imports_one_that_imports_it_back():
    assert _cycle(import_graph()) == []


def test_a_cycle_would_be_found():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_every_function_has_a_return_annotation():
    missing = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
               for path in _modules().values()
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is None]
    assert missing == []


def _slug(heading: str) -> str:
    """The anchor GitHub gives a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_citations_of_the_api_notes_name_existing_sections():
    anchors = {_slug(line.lstrip("#")) for line in NOTES.read_text(encoding="utf-8").splitlines()
               if line.startswith("#")}
    cited = {}
    for folder in ("simportal", "tests", "bench", "bitrix24"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix not in (".py", ".md") or not path.is_file():
                continue
            for match in re.finditer(r"bitrix24-api-notes\.md((?:#[\w-]+)(?:,\s*#[\w-]+)*)",
                                     path.read_text(encoding="utf-8")):
                for anchor in re.findall(r"#([\w-]+)", match.group(1)):
                    cited.setdefault(anchor, str(path.relative_to(REPO)))
    assert len(cited) > 20
    assert {a: where for a, where in cited.items() if a not in anchors} == {}
    assert not re.search(r"§\d", "".join(p.read_text(encoding="utf-8") for p in ROOT.rglob("*.py")))
