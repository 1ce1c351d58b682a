"""The components from outside: a new, empty dg project in a temporary folder (laid out as
``create-dagster project`` lays one out), this package installed into its environment from a
wheel (not editable: what ``pip install`` of the repository installs), both components
scaffolded with ``dg scaffold defs``, pointed at the loopback sandboxes through environment
variables, ``dg check yaml`` / ``dg check defs``, and one app-day launched with ``dg launch``.

The project's environment is a venv of its own holding the wheel; its dependencies (dagster,
duckdb, ...) are this one's, seen through a ``.pth`` line as ``--system-site-packages`` would,
so nothing is downloaded. Every command runs with a clean environment (no variable of the tests'
leaks in: the catalog, folders and credentials are the project's own).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from reo_dt_assets.revenue.store import users_with_user_id
from reo_dt_assets.sandbox.dt_server import DTSandbox
from reo_dt_assets.sandbox.reo_server import ReoSandbox
from reo_dt_assets_tests.helpers import REPO

pytestmark = pytest.mark.slow

SOURCE = "reo_dt_assets.components.DigitalTurbineSource"
DELIVERY = "reo_dt_assets.components.ReoDevDelivery"
APP = "148721"  # an app of the scaffolded sample catalog
CHAIN_CHECKS = {
    "dt_user_level_report_columns",
    "schema_matches_contract",
    "key_is_unique",
    "amounts_not_negative",
    "reconciles_with_raw_report",
    "history_matches_user_revenue",
    "splits_match_revenue",
    "restatement_within_threshold",
    "payloads_match_contract",
    "every_event_accounted_for",
    "revenue_matches_user_revenue",
    "failures_within_threshold",
}

PYPROJECT = """\
[project]
name = "{name}"
requires-python = ">=3.11,<3.14"
version = "0.1.0"
dependencies = ["dagster", "reo-dt-assets"]

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.dg]
directory_type = "project"

[tool.dg.project]
root_module = "{name}"
registry_modules = ["{name}.components.*"]
"""

DEFINITIONS = """\
from pathlib import Path

from dagster import definitions, load_from_defs_folder


@definitions
def defs():
    return load_from_defs_folder(path_within_project=Path(__file__).parent)
"""

#: The pool of each step of the project, by asset key, printed by the project's own Python.
POOLS = """\
import json
from {name}.definitions import defs
print(json.dumps({{a.key.to_user_string(): a.op.pool for a in defs().assets}}))
"""


@dataclass
class Environment:
    """The venv a user's project runs in, with this package installed from its wheel."""

    venv: Path
    wheel: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        return self.venv / "lib" / version / "site-packages"


@dataclass
class Project:
    """A dg project of its own, in its own folder, run with a clean environment."""

    root: Path
    name: str
    environment: Environment
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def defs(self) -> Path:
        return self.root / "src" / self.name / "defs"

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        bin_dir = self.environment.venv / "bin"
        env = {
            "HOME": str(self.root),
            "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "VIRTUAL_ENV": str(self.environment.venv),
            "DAGSTER_HOME": str(self.root / ".dagster_home"),
            "NO_COLOR": "1",
            **self.variables,
        }
        done = subprocess.run(
            command, cwd=self.root, env=env, capture_output=True, text=True, timeout=300
        )
        if check:
            assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done

    def dg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("dg", *args, check=check)

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.root / ".dagster_home"))


def _script(path: Path, python: Path, module: str) -> None:
    """A console script as pip writes one (the CLIs' packages are this environment's)."""
    path.write_text(f"#!{python}\nimport sys\nfrom {module} import main\nsys.exit(main())\n")
    path.chmod(0o755)


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Environment:
    root = tmp_path_factory.mktemp("adopter")
    source = root / "source"  # what the repository ships, without caches or build leftovers
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "reo_dt_assets",
        source / "reo_dt_assets",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
        check=True,
    )
    [wheel] = wheels.glob("reo_dt_assets-*.whl")
    environment = Environment(root / "venv", wheel)
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(environment.venv)], check=True
    )
    shared = Path(sysconfig.get_paths()["purelib"])
    (environment.site_packages / "_shared_dependencies.pth").write_text(f"{shared}\n")
    subprocess.run(
        [*pip, "--python", str(environment.python), "install", "--no-deps", str(wheel)],
        check=True,
    )
    _script(environment.venv / "bin" / "dg", environment.python, "dagster_dg_cli.cli")
    _script(environment.venv / "bin" / "dagster", environment.python, "dagster._cli")
    return environment


def new_project(environment: Environment, folder: Path, name: str) -> Project:
    """An empty project: pyproject, the package, its definitions and an empty ``defs/``; on
    the environment's path as an editable install puts it."""
    package = folder / "src" / name
    (package / "defs").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(PYPROJECT.format(name=name))
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(DEFINITIONS)
    (environment.site_packages / f"_{name}.pth").write_text(f"{folder / 'src'}\n")
    return Project(folder, name, environment)


@pytest.fixture
def sandboxes() -> Iterator[tuple[DTSandbox, ReoSandbox]]:
    with DTSandbox(rows=300) as dt_sandbox, ReoSandbox() as reo_sandbox:
        yield dt_sandbox, reo_sandbox


def _aim(project: Project, dt_sandbox: DTSandbox, reo_sandbox: ReoSandbox) -> None:
    project.variables.update(
        DT_CLIENT_ID=dt_sandbox.client_id,
        DT_CLIENT_SECRET=dt_sandbox.client_secret,
        DT_REPORTING_BASE_URL=dt_sandbox.url,
        REO_API_KEY=reo_sandbox.api_key,
        REO_INGEST_BASE_URL=reo_sandbox.url,
        REO_DT_DATA_DIR=str(project.root / "data"),
        DT_POLL_INITIAL_SECONDS="0.05",
        DT_POLL_MAX_SECONDS="0.1",
    )


def _checks_of_runs(instance: dg.DagsterInstance) -> list[dg.AssetCheckEvaluation]:
    evaluations = []
    for run in instance.get_runs():
        assert run.status == dg.DagsterRunStatus.SUCCESS, run.run_id
        for record in instance.all_logs(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ):
            data = record.dagster_event.event_specific_data if record.dagster_event else None
            assert isinstance(data, dg.AssetCheckEvaluation)
            evaluations.append(data)
    return evaluations


def _users(database: Path, day: dt.date, app_id: str) -> int:
    with duckdb.connect(str(database), read_only=True) as conn:
        return users_with_user_id(conn, day, app_id)


def test_a_new_project_scaffolds_both_and_delivers_one_app_day_once(
    environment: Environment, sandboxes: tuple[DTSandbox, ReoSandbox], tmp_path: Path
) -> None:
    dt_sandbox, reo_sandbox = sandboxes
    project = new_project(environment, tmp_path / "adopter", "adopter")
    listed = project.dg("list", "components", "--json").stdout
    types = {entry["key"]: entry["summary"] for entry in json.loads(listed)["items"]}
    assert {SOURCE, DELIVERY, "reo_dt_assets.components.ReoDtAlerts"} <= set(types)
    assert types[SOURCE].startswith("Digital Turbine's user-level ad revenue")  # the docstring

    project.dg("scaffold", "defs", SOURCE, "digital_turbine")
    project.dg("scaffold", "defs", DELIVERY, "reo")
    assert (project.defs / "digital_turbine" / "apps.toml").is_file()  # the sample catalog
    project.dg("check", "yaml")
    _aim(project, dt_sandbox, reo_sandbox)
    project.dg("check", "defs")
    installed = project.run(
        str(environment.python), "-c", "import reo_dt_assets; print(reo_dt_assets.__file__)"
    ).stdout
    assert Path(installed.strip()).is_relative_to(environment.site_packages)  # the wheel's

    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    partition = f"{APP}|{day}"
    project.dg("launch", "--job", "daily_revenue_events_job", "--partition", partition)
    users = _users(project.root / "data" / "reo_dt.duckdb", day, APP)
    assert users > 0
    assert len(reo_sandbox.received) == users
    assert max(reo_sandbox.counts().values()) == 1  # each event once

    project.dg("launch", "--job", "daily_revenue_events_job", "--partition", partition)
    assert len(reo_sandbox.received) == users  # a re-run sends nothing already delivered
    evaluations = _checks_of_runs(project.instance())
    assert {e.check_name for e in evaluations} == CHAIN_CHECKS
    assert all(e.passed for e in evaluations), [e for e in evaluations if not e.passed]
    assert dt_sandbox.stats.report_requests == 2  # one per run: no retry was needed


def test_two_accounts_live_in_one_project_without_clashing(
    environment: Environment, sandboxes: tuple[DTSandbox, ReoSandbox], tmp_path: Path
) -> None:
    """Two DT accounts (each its own credentials, folder and catalog) delivered to two Reo.Dev
    workspaces: the second instance, prefixed ``acct2``, has its own keys, resources, jobs and
    pools, and each account's run asks only its own DT."""
    dt_sandbox, reo_sandbox = sandboxes
    project = new_project(environment, tmp_path / "two", "two_accounts")
    project.dg("scaffold", "defs", SOURCE, "digital_turbine")
    project.dg("scaffold", "defs", DELIVERY, "reo")
    project.dg("scaffold", "defs", SOURCE, "acct2/digital_turbine")
    project.dg("scaffold", "defs", DELIVERY, "acct2/reo", "--source", "acct2/digital_turbine")
    second = project.defs / "acct2" / "digital_turbine"
    yaml = (second / "defs.yaml").read_text()
    for said, meant in [
        ("  # asset_key_prefix: [acct2]", "  asset_key_prefix: [acct2]"),
        ("  # data_dir: data", f"  data_dir: {project.root / 'acct2-data'}"),
        ("client_id_env: DT_CLIENT_ID", "client_id_env: DT2_CLIENT_ID"),
        ("client_secret_env: DT_CLIENT_SECRET", "client_secret_env: DT2_CLIENT_SECRET"),
        ("base_url_env: DT_REPORTING_BASE_URL", "base_url_env: DT2_REPORTING_BASE_URL"),
    ]:
        assert said in yaml, said
        yaml = yaml.replace(said, meant)
    (second / "defs.yaml").write_text(yaml)
    catalog = second / "apps.toml"
    catalog.write_text(catalog.read_text().replace('"148721"', '"555001"'))
    reo_yaml = project.defs / "acct2" / "reo" / "defs.yaml"
    reo_yaml.write_text(
        reo_yaml.read_text()
        .replace("api_key_env: REO_API_KEY", "api_key_env: REO2_API_KEY")
        .replace("base_url_env: REO_INGEST_BASE_URL", "base_url_env: REO2_INGEST_BASE_URL")
    )

    with (
        DTSandbox(rows=200, client_id="acct2", client_secret="acct2-secret") as other_dt,
        ReoSandbox(api_key="workspace-2-key") as other_reo,
    ):
        _aim(project, dt_sandbox, reo_sandbox)
        project.variables.update(
            DT2_CLIENT_ID=other_dt.client_id,
            DT2_CLIENT_SECRET=other_dt.client_secret,
            DT2_REPORTING_BASE_URL=other_dt.url,
            REO2_API_KEY=other_reo.api_key,
            REO2_INGEST_BASE_URL=other_reo.url,
        )
        project.dg("check", "defs")
        listed = json.loads(project.dg("list", "defs", "--json").stdout)
        keys = {asset["asset_key"] for asset in listed["assets"]}
        for name in ("dt_user_level_report", "user_revenue", "reo_usage_events"):
            assert {name, f"acct2/{name}"} <= keys
        assert {"acct2_duckdb", "acct2_reo", "duckdb", "reo"} <= {
            r["name"] for r in listed["resources"]
        }
        pools = json.loads(
            project.run(str(environment.python), "-c", POOLS.format(name=project.name)).stdout
        )
        assert pools["user_revenue"] == "duckdb_writer"
        assert pools["acct2/user_revenue"] == "acct2_duckdb_writer"
        assert pools["acct2/dt_user_level_report"] == "acct2_dt_reporting"
        assert pools["acct2/reo_usage_events"] == "acct2_reo_delivery"

        day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        project.dg("launch", "--job", "daily_revenue_events_job", "--partition", f"{APP}|{day}")
        project.dg(
            "launch", "--job", "acct2_daily_revenue_events_job", "--partition", f"555001|{day}"
        )
        assert (dt_sandbox.stats.report_requests, other_dt.stats.report_requests) == (1, 1)
        received = len(other_reo.received), max(other_reo.counts().values())
    first = _users(project.root / "data" / "reo_dt.duckdb", day, APP)
    second_users = _users(project.root / "acct2-data" / "reo_dt.duckdb", day, "555001")
    assert (len(reo_sandbox.received), max(reo_sandbox.counts().values())) == (first, 1)
    assert received == (second_users, 1)
    evaluations = _checks_of_runs(project.instance())
    assert {e.asset_key.to_user_string() for e in evaluations} >= {
        "user_revenue",
        "acct2/user_revenue",
        "acct2/reo_usage_events",
    }
    assert all(e.passed for e in evaluations), [e for e in evaluations if not e.passed]


def test_the_wheel_is_the_package_and_its_own_code_location_loads_from_it(
    environment: Environment, tmp_path: Path
) -> None:
    """What ``pip install`` of the repository brings: the package with its sandboxes, the
    components and this code location's ``defs.yaml`` files, and neither the tests nor the dev
    tools; installed so, the code location loads (``dg.toml`` makes the package a project)."""
    names = zipfile.ZipFile(environment.wheel).namelist()
    packages = {name.split("/")[0] for name in names if "/" in name}
    assert {p for p in packages if not p.endswith(".dist-info")} == {"reo_dt_assets"}
    for shipped in [
        "reo_dt_assets/sandbox/dt_server.py",
        "reo_dt_assets/components/source.py",
        "reo_dt_assets/defs/digital_turbine/defs.yaml",
        "reo_dt_assets/dg.toml",
    ]:
        assert shipped in names, shipped
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    with zipfile.ZipFile(environment.wheel) as wheel:
        assert "[dagster_dg_cli.registry_modules]" in wheel.read(entry_points).decode()
    project = Project(tmp_path, "none", environment)
    project.variables["REO_DT_APPS_FILE"] = str(REPO / "apps.toml")
    loaded = project.run(
        str(environment.python),
        "-c",
        "from reo_dt_assets.definitions import defs\n"
        "print(sorted(a.key.to_user_string() for a in defs().assets))",
    ).stdout
    assert loaded.strip().splitlines()[-1] == str(
        sorted(
            [
                "daily_revenue",
                "dt_user_level_report",
                "reo_usage_events",
                "revenue_cohorts",
                "revenue_report",
                "user_revenue",
            ]
        )
    )
