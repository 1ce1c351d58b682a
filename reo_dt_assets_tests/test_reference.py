"""The configuration reference: generated from the code, complete, and as the code reads it."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from reo_dt_assets import settings
from reo_dt_assets_dev import reference
from reo_dt_assets_tests.helpers import REPO

#: Calls whose first argument (``_secrets``: every argument) names an environment variable.
READERS = {"get", "getenv", "EnvVar", "number", "http_url", "report_limit", "Tunable", "_secrets"}
#: A field ``<what>_env`` (a resource's, a component's) names the variable it is read from; its
#: default is the one read unless a ``defs.yaml`` names another.
ENV_FIELD = "_env"


def _variables_read(path: Path) -> tuple[set[str], set[str]]:
    """(names, unresolved): the environment variables the module at ``path`` reads, by its
    ``os.environ`` reads and the project's readers, and the argument names it passes them that
    are no value of the module (a reader's own parameter)."""
    module = importlib.import_module(
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
    )
    names: set[str] = set()
    unresolved: set[str] = set()

    def resolve(node: ast.expr) -> None:
        if isinstance(node, ast.Starred):
            node = node.value
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = getattr(module, node.value.id, None)
            value = getattr(owner, node.attr, None)
            if isinstance(value, str):
                names.add(value)
            elif isinstance(value, settings.Tunable):
                names.add(value.name)
        elif isinstance(node, ast.Name):
            value = getattr(module, node.id, None)
            if isinstance(value, str):
                names.add(value)
            else:
                unresolved.add(node.id)

    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id.endswith(ENV_FIELD)
            and node.value is not None
        ):
            value = node.value
            if isinstance(value, ast.Call):  # Field(default=...)
                value = next(k.value for k in value.keywords if k.arg == "default")
            resolve(value)
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called == "get" and not (
                isinstance(func, ast.Attribute) and ast.unparse(func.value) == "os.environ"
            ):
                continue
            if called in READERS and node.args:
                for arg in node.args if called == "_secrets" else node.args[:1]:
                    resolve(arg)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            resolve(node.slice)
    return names, unresolved


def test_the_page_is_what_the_code_says() -> None:
    """Regenerate with ``python -m reo_dt_assets_dev.reference`` after changing a setting."""
    assert reference.PAGE.read_text() == reference.render()


def test_every_variable_the_code_reads_is_in_the_reference() -> None:
    documented = {setting.name for setting in settings.REFERENCE}
    read: set[str] = set()
    unresolved: set[str] = set()
    paths = [*(REPO / "reo_dt_assets").rglob("*.py"), *(REPO / "reo_dt_assets_dev").rglob("*.py")]
    for path in sorted(paths):
        if "sandbox" not in path.parts:  # the sandbox reads none: it is configured by knobs
            names, passed = _variables_read(path)
            read |= names
            unresolved |= passed
    assert read - documented == set()
    assert documented - read == set()  # and nothing documented that nothing reads
    assert unresolved <= {"name", "names"}  # only the readers' own parameters
    assert len(read) >= 40


def test_env_example_names_only_documented_settings() -> None:
    documented = {setting.name for setting in settings.REFERENCE}
    text = (REPO / ".env.example").read_text()
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    assert len(named) >= 30 and named <= documented
