"""What a notebook cell may not do while it is graded: change the grading environment.

One narrow static rule set, used in two places with the same words:

- by the grading runner (``tools/grading``), outside the student's process, on the cells the student
  wrote: each finding costs the tasks whose test cells come after that cell;
- in Jupyter and ``nbgrader validate``: ``convlib.check`` installs an IPython input transformer that
  scans every cell before it runs; a cell with a finding does not run, raises the same message,
  and every later check repeats it. So a deduction is never a surprise.

Ordinary Python is never a finding: any import, timing, magics (``%timeit``), prints, helpers,
``getattr(t, "shape", None)``, ``random.seed``, scratch cells calling ``torch.nn.functional`` or
``convlib``. Only code that changes what the checks see is:

- assigning or deleting attributes or items of torch, numpy, convlib, sys, builtins, importlib,
  IPython (``torch.testing.assert_close = ...``, ``sys.modules["importlib"] = fake``); ``setattr``,
  ``delattr`` or ``vars(...)[...] =`` on them; ``sys.settrace``/``setprofile``, import hooks;
- hooking IPython (input or AST transformers, events, custom exception handlers);
- reaching into frames or closures (``f_globals``, ``__closure__``, ``__globals__``, ...);
- rebinding at top level a name the tests use (``check``, ``torch``, or a builtin they call).

This module imports neither torch nor IPython at import time (the runner scans hundreds of
notebooks); ``to_python`` imports IPython's transformer only when a cell has IPython syntax.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass

# Modules (root names) whose attributes and items a cell may not assign, delete or setattr.
PROTECTED_MODULES = frozenset(
    {"torch", "numpy", "convlib", "sys", "builtins", "importlib", "IPython", "ipykernel"}
)
# ... except these parts of torch, which honest code configures (cudnn.deterministic = True).
ALLOWED_ASSIGN_PREFIXES = ("torch.backends.",)
# Names the test cells use: rebinding one at top level changes what the tests run.
COURSE_NAMES = frozenset({"check", "torch"})
# (the builtins the course's test cells call, `sum` excepted: a scratch `sum = 0` breaks the visible
# tests in Jupyter too, so the student sees it before grading)
TEST_BUILTINS = frozenset({"range", "enumerate", "zip", "len", "frozenset", "tuple", "dict", "int"})
# Attributes that hook IPython or expose frames, closures and module internals.
HOOK_ATTRIBUTES = frozenset(
    {
        "input_transformers_cleanup",
        "input_transformers_post",
        "input_transformer_manager",
        "ast_transformers",
        "events",
        "set_custom_exc",
        "custom_exceptions",
        "showtraceback",
        "displayhook",
        "display_pub",
        "set_hook",
        "register_post_execute",
    }
)
INTROSPECTION_ATTRIBUTES = frozenset(
    {
        "__globals__",
        "__closure__",
        "__code__",
        "__builtins__",
        "__subclasses__",
        "__kwdefaults__",
        "__defaults__",
        "f_globals",
        "f_locals",
        "f_back",
        "f_builtins",
        "tb_frame",
        "gi_frame",
        "cr_frame",
    }
)
# Calls that install hooks which see or change every later call.
HOOK_CALLS = frozenset(
    {
        "sys.settrace",
        "sys.setprofile",
        "threading.settrace",
        "threading.setprofile",
        "sys.meta_path.insert",
        "sys.meta_path.append",
        "sys.meta_path.extend",
        "sys.path_hooks.insert",
        "sys.path_hooks.append",
        "sys.modules.update",
        "sys.modules.setdefault",
        "sys.modules.__setitem__",
        "builtins.__dict__.update",
    }
)


@dataclass(frozen=True)
class Finding:
    """One construct that changes the grading environment, at ``line`` of its cell."""

    line: int
    what: str

    def message(self, first_line: str) -> str:
        """The one-line reason, the same in Jupyter, validate and the grader's feedback."""
        return (
            f"tampering: the cell starting `{first_line}` {self.what} (line {self.line}), which "
            "changes the grading environment: not allowed, 0 points for every task tested after it"
        )


def first_line(source: str) -> str:
    """The first non-empty line of a cell, shortened: how messages name a cell."""
    for line in source.splitlines():
        if line.strip():
            text = line.strip()
            return text if len(text) <= 40 else text[:37] + "..."
    return ""


def to_python(source: str) -> str:
    """IPython syntax (magics, ``!cmd``) turned into the Python IPython would run."""
    if not any(ch in source for ch in "%!?"):
        return source
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Names bound by import statements in ``tree`` -> the module path they stand for."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "get_ipython"
        ):  # ip = get_ipython(): `ip` stands for the shell
            for t in node.targets:
                if isinstance(t, ast.Name):
                    found[t.id] = "IPython.shell"
        elif (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and ast.unparse(node.value.func) in ("__import__", "importlib.import_module")
            and node.value.args
            and isinstance(node.value.args[0], ast.Constant)
        ):  # m = __import__("torch.testing", ...): `m` stands for that module
            for t in node.targets:
                if isinstance(t, ast.Name):
                    found[t.id] = str(node.value.args[0].value)
        elif isinstance(node, ast.Import):
            for a in node.names:
                found[a.asname or a.name.split(".")[0]] = (
                    a.name if a.asname else a.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                if a.name != "*":
                    found[a.asname or a.name] = f"{node.module}.{a.name}"
    return found


def _qualname(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``torch.testing.assert_close`` for an expression naming it (through aliases)."""
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _qualname(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Subscript):
        base = _qualname(node.value, aliases)
        return f"{base}[]" if base else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "get_ipython":
            return "IPython.shell"
        if node.func.id == "vars" and node.args:
            return _qualname(node.args[0], aliases)
    return None


# names a notebook binds without an import in the cell itself (the course's setup cell)
COURSE_ROOTS = {"torch": "torch", "check": "convlib.check", "F": "torch.nn.functional"}
# (`import convlib.checks.exNN as practice`, `from convlib.checks import core`)
COURSE_ROOTS.update(practice="convlib.checks", core="convlib.checks.core")
for _name in ("sys", "builtins", "importlib"):
    COURSE_ROOTS[_name] = _name


def _protected(qualname: str | None) -> bool:
    if not qualname:
        return False
    if qualname.startswith(ALLOWED_ASSIGN_PREFIXES):
        return False
    return qualname.split(".")[0].split("[")[0] in PROTECTED_MODULES


def _top_level_names(tree: ast.Module) -> Iterable[tuple[str, int]]:
    """Names bound at module level (or through ``global``) by anything but an import."""

    def names(target: ast.AST) -> Iterable[str]:
        if isinstance(target, ast.Name):
            yield target.id
        elif isinstance(target, ast.Tuple | ast.List):
            for elt in target.elts:
                yield from names(elt)
        elif isinstance(target, ast.Starred):
            yield from names(target.value)

    for stmt in tree.body:
        targets: list[ast.AST] = []
        if isinstance(stmt, ast.Assign | ast.Delete):
            targets = list(stmt.targets)
        elif isinstance(stmt, ast.AugAssign | ast.AnnAssign | ast.For | ast.AsyncFor):
            targets = [stmt.target]
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            targets = [i.optional_vars for i in stmt.items if i.optional_vars]
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield stmt.name, stmt.lineno
        for t in targets:
            for n in names(t):
                yield n, stmt.lineno
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            for n in node.names:
                yield n, node.lineno


def _reimports(tree: ast.Module, name: str) -> bool:
    """``check = importlib.import_module("convlib.check")`` (the hidden tests' fresh copy)."""
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets)
            and isinstance(stmt.value, ast.Call)
            and ast.unparse(stmt.value.func) == "importlib.import_module"
            and [ast.unparse(a) for a in stmt.value.args] == [repr(COURSE_ROOTS[name])]
        ):
            return True
    return False


def scan(source: str) -> list[Finding]:
    """Every construct in one cell's source that changes the grading environment."""
    try:
        tree = ast.parse(to_python(source))
    except SyntaxError:
        return []  # it does not run either
    aliases = {**COURSE_ROOTS, **_aliases(tree)}
    found: list[Finding] = []

    def add(node: ast.AST, what: str) -> None:
        found.append(Finding(getattr(node, "lineno", 0), what))

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute | ast.Subscript) and _protected(
                    _qualname(t, aliases)
                ):
                    verb = "deletes" if isinstance(node, ast.Delete) else "changes"
                    add(node, f"{verb} `{ast.unparse(t)}`")
        elif isinstance(node, ast.Call):
            name = _qualname(node.func, aliases) or (
                node.func.id if isinstance(node.func, ast.Name) else ""
            )
            if name in ("setattr", "delattr") and node.args:
                target = _qualname(node.args[0], aliases)
                attr = node.args[1] if len(node.args) > 1 else None
                dunder = isinstance(attr, ast.Constant) and str(attr.value) in (
                    INTROSPECTION_ATTRIBUTES | HOOK_ATTRIBUTES
                )
                if _protected(target) or dunder:
                    add(node, f"calls `{name}` on `{ast.unparse(node.args[0])}`")
            elif name == "getattr" and len(node.args) > 1:
                attr = node.args[1]
                if isinstance(attr, ast.Constant) and str(attr.value) in (
                    INTROSPECTION_ATTRIBUTES | HOOK_ATTRIBUTES
                ):
                    add(node, f"reads `{attr.value!s}` through getattr")
            elif name in HOOK_CALLS:
                add(node, f"calls `{name}`")
        elif isinstance(node, ast.Attribute):
            owner = _qualname(node.value, aliases)
            if node.attr in HOOK_ATTRIBUTES and (
                owner == "IPython.shell" or (owner is None and node.attr != "events")
            ):
                add(node, f"hooks IPython (`.{node.attr}`)")
            elif node.attr in INTROSPECTION_ATTRIBUTES:
                add(node, f"reaches into frames or closures (`.{node.attr}`)")
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            add(node, "uses `__builtins__`")
    if isinstance(tree, ast.Module):
        imported = _aliases(tree)
        for name, line in _top_level_names(tree):
            if name in COURSE_NAMES and name not in imported and not _reimports(tree, name):
                found.append(Finding(line, f"rebinds `{name}`, which the tests use"))
            elif name in TEST_BUILTINS:
                found.append(Finding(line, f"rebinds the builtin `{name}`, which the tests use"))
        for name, module in imported.items():
            if name in COURSE_NAMES and COURSE_ROOTS.get(name) not in (module, None):
                found.append(Finding(0, f"rebinds `{name}` to `{module}`"))
    unique: dict[tuple[int, str], Finding] = {}
    for f in found:
        unique.setdefault((f.line, f.what), f)
    return sorted(unique.values(), key=lambda f: (f.line, f.what))


def messages(source: str) -> list[str]:
    """The student-facing messages for one cell (empty when the cell is fine)."""
    head = first_line(source)
    return [f.message(head) for f in scan(source)]
