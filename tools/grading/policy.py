"""Static grading policy: what a student's answer cells may not do, found before anything runs.

The hidden tests run in the same Python process as the student's code, so code that rebinds
`torch.testing.assert_close`, hooks IPython, reads the solutions, or calls the torch operation it
was asked to implement could make a wrong answer pass. The runner refuses such code: it scans the
cells the student wrote (cells that are neither locked nor identical to the released notebook)
and returns one `Violation` per finding. A violation confined to one answer cell costs the tasks
that cell answers; anything else (tampering with the environment, a forbidden helper cell) costs
every task of the notebook. Scanning the source, not the behaviour, keeps the verdict
deterministic and explainable in one feedback line; the kernel guards in `kernel.py` back it up
at run time.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Modules an answer may import (the root name). Anything else is refused: the exercises need
# only tensors and arithmetic, and every escape hatch (os, sys, io, inspect, ctypes, importlib,
# IPython, subprocess, pathlib, sqlite3, pickle, ...) lives outside this list.
ALLOWED_IMPORTS = frozenset(
    {
        "torch",
        "numpy",
        "math",
        "itertools",
        "functools",
        "typing",
        "collections",
        "dataclasses",
        "operator",
        "convlib",
        "fractions",
        "numbers",
        "string",
        "__future__",
    }
)
# Parts of torch that can rewrite what other code sees (dispatcher, overrides, C internals).
FORBIDDEN_TORCH_PARTS = re.compile(
    r"^torch\.(library|ops|overrides|_[A-Za-z0-9_]*|utils\.cpp_extension|hub|load|save|jit|"
    r"compile|_dynamo|fx|autograd\.graph|testing\._internal|utils\.hooks)(\.|$)"
)
# The operations the exercises ask students to write themselves (the references the tests use).
FORBIDDEN_OPS = re.compile(
    r"^(torch\.nn\.functional\.(conv\w*|unfold|fold|\w*pool\w*|pad|grid_sample)"
    r"|torch\.(conv\w*|convolution|\w*pool\w*|cudnn_\w+|mkldnn_\w+|miopen_\w+|_convolution\w*)"
    r"|torch\.nn\.(Conv\w*|LazyConv\w*|\w*Pool\w*|Unfold|Fold|grad(\.\w+)?|modules(\.\w+)*)"
    r"|numpy\.(convolve|correlate))$"
)
FORBIDDEN_CALLS = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "open",
        "breakpoint",
        "input",
        "get_ipython",
        "exit",
        "quit",
        "memoryview",
        "__builtins__",
        "__loader__",
        "__spec__",
    }
)
ALLOWED_DUNDERS = frozenset({"__init__", "__name__", "__doc__", "__repr__", "__str__", "__len__"})
FORBIDDEN_METHODS = frozenset({"unfold", "fold"})  # Tensor.unfold is torch's im2col
BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_"))

NOTEBOOK = "notebook"
TASK = "task"


@dataclass(frozen=True)
class Violation:
    """One forbidden construct in a student's cell.

    kind: short machine name (forbidden_op, monkeypatch, import, builtin, dunder, rebinding,
    torch_internals, tensor_subclass, ipython). scope: "task" (costs the tasks answered by the
    cell) or "notebook" (costs every task of the notebook). grade_ids: the tasks it costs.
    """

    kind: str
    scope: str
    cell_index: int
    line: int
    message: str
    grade_ids: tuple[str, ...] = field(default=())

    def feedback(self) -> str:
        return f"cell {self.cell_index + 1}, line {self.line}: {self.message}"


def to_python(source: str) -> str:
    """IPython syntax (magics, `!cmd`) turned into the Python IPython would run."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def module_aliases(sources: Iterable[str]) -> dict[str, str]:
    """Names bound by import statements, mapped to the qualified name they stand for."""
    aliases: dict[str, str] = {}
    for source in sources:
        try:
            tree = ast.parse(to_python(source))
        except SyntaxError:
            continue
        _collect_aliases(tree, aliases)
    return aliases


def _collect_aliases(tree: ast.AST, aliases: dict[str, str]) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    root = a.name.split(".")[0]
                    aliases[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                if a.name != "*":
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"


def _qualname(node: ast.AST, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _qualname(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    return None


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _target_names(target: ast.AST) -> Iterable[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for elt in target.elts:
            yield from _target_names(elt)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def _top_level_bindings(tree: ast.Module) -> Iterable[tuple[str, int, str | None]]:
    """Names bound at module level (also through `global` inside functions), with the qualified
    name an import binds them to (None for other bindings)."""
    for stmt in tree.body:
        targets: list[ast.AST] = []
        if isinstance(stmt, ast.Assign):
            targets = list(stmt.targets)
        elif isinstance(stmt, ast.AugAssign | ast.AnnAssign | ast.For | ast.AsyncFor):
            targets = [stmt.target]
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            targets = [i.optional_vars for i in stmt.items if i.optional_vars]
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield stmt.name, stmt.lineno, None
        elif isinstance(stmt, ast.Import):
            for a in stmt.names:
                if a.asname:
                    yield a.asname, stmt.lineno, a.name
                else:
                    root = a.name.split(".")[0]
                    yield root, stmt.lineno, root
        elif isinstance(stmt, ast.ImportFrom):
            for a in stmt.names:
                yield (a.asname or a.name), stmt.lineno, f"{stmt.module}.{a.name}"
        for t in targets:
            for name in _target_names(t):
                yield name, stmt.lineno, None
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            for name in node.names:
                yield name, node.lineno, None
        elif isinstance(node, ast.NamedExpr):
            yield from ((n, node.lineno, None) for n in _target_names(node.target))


def scan_source(
    source: str,
    aliases: dict[str, str],
    protected_names: frozenset[str],
    allowed_qualnames: frozenset[str] = frozenset(),
) -> list[tuple[str, str, int, str]]:
    """Findings in one cell's source: (kind, scope, line, message).

    aliases: module aliases visible to the cell (instructor cells + the student's own imports).
    protected_names: names the course's cells import (rebinding them at top level changes what
    the tests call). allowed_qualnames: qualified names the released notebook itself uses.
    """
    try:
        tree = ast.parse(to_python(source))
    except SyntaxError:
        return []  # it will not run either; the tests of this task fail on their own
    local_aliases = dict(aliases)
    if isinstance(tree, ast.Module):  # names the cell defines itself are its own, not imports
        for name, _, _ in _top_level_bindings(tree):
            local_aliases.pop(name, None)
    _collect_aliases(tree, local_aliases)
    found: list[tuple[str, str, int, str]] = []

    def add(kind: str, scope: str, node: ast.AST, message: str) -> None:
        found.append((kind, scope, getattr(node, "lineno", 0), message))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or "." * node.level]
            )
            for m in modules:
                if m.split(".")[0] not in ALLOWED_IMPORTS:
                    add("import", NOTEBOOK, node, f"imports `{m}`, which answers may not use")
                elif FORBIDDEN_TORCH_PARTS.match(m):
                    add("torch_internals", NOTEBOOK, node, f"imports `{m}`")
            if isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    q = f"{node.module}.{a.name}"
                    if FORBIDDEN_OPS.match(q) and q not in allowed_qualnames:
                        add("forbidden_op", TASK, node, f"uses `{q}` instead of implementing it")
                    elif q.startswith("convlib.") and q not in allowed_qualnames:
                        add("forbidden_op", TASK, node, f"uses the course library's `{q}`")
        elif isinstance(node, ast.Name):
            q = local_aliases.get(node.id)
            if node.id in FORBIDDEN_CALLS:
                add("builtin", NOTEBOOK, node, f"uses `{node.id}`, which answers may not use")
            elif q and FORBIDDEN_OPS.match(q) and q not in allowed_qualnames:
                add("forbidden_op", TASK, node, f"uses `{q}` instead of implementing it")
            elif node.id.startswith("__") and node.id.endswith("__"):
                add("dunder", NOTEBOOK, node, f"uses `{node.id}`")
        elif isinstance(node, ast.Attribute):
            q = _qualname(node, local_aliases)
            if node.attr.startswith("__") and node.attr not in ALLOWED_DUNDERS:
                add("dunder", NOTEBOOK, node, f"uses the attribute `{node.attr}`")
            elif q and FORBIDDEN_TORCH_PARTS.match(q):
                add("torch_internals", NOTEBOOK, node, f"uses `{q}`")
            elif q and FORBIDDEN_OPS.match(q) and q not in allowed_qualnames:
                add("forbidden_op", TASK, node, f"uses `{q}` instead of implementing it")
            elif (
                q
                and q.startswith("convlib.")
                and not q.startswith("convlib.check")
                and q not in allowed_qualnames
            ):
                add("forbidden_op", TASK, node, f"uses the course library's `{q}`")
            elif q is None and node.attr in FORBIDDEN_METHODS:
                add("forbidden_op", TASK, node, f"uses the tensor method `.{node.attr}`")
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = (
                node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]  # type: ignore[union-attr]
            )
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Attribute | ast.Subscript):
                        root = _root_name(sub)
                        if root in local_aliases:
                            add(
                                "monkeypatch",
                                NOTEBOOK,
                                node,
                                f"changes `{ast.unparse(sub)}`, part of the module "
                                f"`{local_aliases[root]}`",
                            )
                            break
        elif isinstance(node, ast.ClassDef):
            for b in node.bases:
                q = _qualname(b, local_aliases) or ""
                if q.startswith(("torch.", "numpy.")) and not q.startswith("torch.nn.Module"):
                    add("tensor_subclass", NOTEBOOK, node, f"subclasses `{q}`")
        elif isinstance(node, ast.FunctionDef) and node.name in {
            "__torch_function__",
            "__torch_dispatch__",
            "__array_function__",
            "__array_ufunc__",
        }:
            add("tensor_subclass", NOTEBOOK, node, f"defines `{node.name}`")

    if isinstance(tree, ast.Module):
        for name, line, imported in _top_level_bindings(tree):
            if imported is not None and imported == aliases.get(name, imported):
                continue  # importing the same module again changes nothing
            if name in protected_names or name in BUILTIN_NAMES:
                what = "a Python builtin" if name in BUILTIN_NAMES else "a name the course imports"
                found.append(("rebinding", NOTEBOOK, line, f"rebinds `{name}`, {what}"))
    return found


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def scan_notebook(cells: Sequence[dict], released_cells: Sequence[dict]) -> list[Violation]:
    """All violations in the student-written cells of `cells` (an nbformat cell list).

    released_cells: the cells of the notebook students were given; a cell whose source is
    identical to one of them is course code, not an answer, and is not scanned.
    """
    released_code = [c["source"] for c in released_cells if c.get("cell_type") == "code"]
    released_set = set(released_code)
    aliases = module_aliases(released_code)
    protected_names = frozenset(aliases)
    # qualified names the course's own non-test cells use are fair game (e.g. a provided helper);
    # names used only by visible tests (the torch reference) are not
    helper_code = [
        c["source"]
        for c in released_cells
        if c.get("cell_type") == "code" and not _nbgrader(c).get("grade")
    ]
    allowed = frozenset(_all_qualnames(helper_code, aliases)) - frozenset(aliases.values())

    # tasks answered by each solution cell: the grade cells up to the next solution cell
    tasks_of: dict[int, list[str]] = {}
    all_tasks: list[str] = []
    current: int | None = None
    for i, cell in enumerate(cells):
        meta = _nbgrader(cell)
        if meta.get("solution") and not meta.get("grade"):
            current = i
            tasks_of[i] = []
        elif meta.get("grade") and meta.get("grade_id"):
            all_tasks.append(meta["grade_id"])
            if meta.get("solution"):
                tasks_of[i] = [meta["grade_id"]]
            elif current is not None:
                tasks_of[current].append(meta["grade_id"])

    violations: list[Violation] = []
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        meta = _nbgrader(cell)
        if meta.get("locked") or cell["source"] in released_set:
            continue
        for kind, scope, line, message in scan_source(
            cell["source"], aliases, protected_names, allowed
        ):
            if scope == TASK and tasks_of.get(i):
                ids = tuple(tasks_of[i])
            else:
                scope, ids = NOTEBOOK, tuple(all_tasks)
            violations.append(Violation(kind, scope, i, line, message, ids))
    return violations


def _all_qualnames(sources: Iterable[str], aliases: dict[str, str]) -> set[str]:
    names = set(aliases.values())
    for source in sources:
        try:
            tree = ast.parse(to_python(source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            q = _qualname(node, aliases) if isinstance(node, ast.Attribute | ast.Name) else None
            if q:
                names.add(q)
    return names
