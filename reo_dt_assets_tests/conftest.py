"""Fixtures: sandbox servers on loopback, a fast-polling DT client, a clean environment per test.

Shared plain functions are in ``helpers.py``; no test imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from reo_dt_assets.digital_turbine.client import DigitalTurbineClient
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets_tests.helpers import TESTS, make_client

# The definitions load the catalog when first imported, which pytest does after this module:
# point them at the tests' catalog (child processes of the tests inherit it).
os.environ["REO_DT_APPS_FILE"] = str(TESTS / "apps.toml")


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Tests point the settings at their sandboxes; each starts from the same environment."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def dt_sandbox() -> Iterator[DTSandbox]:
    with DTSandbox(rows=400) as sandbox:
        yield sandbox


@pytest.fixture
def dt_client(dt_sandbox: DTSandbox) -> Iterator[DigitalTurbineClient]:
    with make_client(dt_sandbox) as client:
        yield client


@pytest.fixture
def reo_sandbox() -> Iterator[ReoSandbox]:
    with ReoSandbox() as sandbox:
        yield sandbox
