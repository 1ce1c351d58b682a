"""Settings: each tunable's environment variable and default live in ``settings``, and the DT
client, its resource and the storage resource take their defaults from there."""

from __future__ import annotations

import inspect

import pytest

from reo_dt_assets import settings
from reo_dt_assets.components.resources import DigitalTurbineResource, ReoResource, StorageResource
from reo_dt_assets.digital_turbine.client import DEFAULT_RETRY, DigitalTurbineClient
from reo_dt_assets.reo.client import DEFAULT_RETRY as REO_RETRY
from reo_dt_assets.reo.client import ReoClient

DT_FIELDS = {
    "timeout_seconds": settings.DT_TIMEOUT_SECONDS,
    "retry_attempts": settings.DT_RETRY_ATTEMPTS,
    "poll_initial_seconds": settings.DT_POLL_INITIAL_SECONDS,
    "poll_max_seconds": settings.DT_POLL_MAX_SECONDS,
    "poll_deadline_seconds": settings.DT_POLL_DEADLINE_SECONDS,
    "not_ready_retries": settings.DT_NOT_READY_RETRIES,
    "not_ready_wait_seconds": settings.DT_NOT_READY_WAIT_SECONDS,
}


def test_the_dt_resource_and_client_default_to_the_settings() -> None:
    # The test process sets none of these variables: the defaults are the settings' own.
    resource = DigitalTurbineResource()
    for field, tunable in DT_FIELDS.items():
        assert getattr(resource, field) == tunable.default, field
    client = inspect.signature(DigitalTurbineClient).parameters
    for field in ("timeout_seconds", "poll_initial_seconds", "poll_max_seconds"):
        assert client[field].default == DT_FIELDS[field].default, field
    assert client["poll_deadline_seconds"].default == settings.DT_POLL_DEADLINE_SECONDS.default
    assert DEFAULT_RETRY.attempts == settings.DT_RETRY_ATTEMPTS.default
    assert DEFAULT_RETRY.base_delay == resource.retry_base_seconds
    assert StorageResource().load_memory_mb == settings.REO_DT_LOAD_MEMORY_MB.default


def test_a_tunable_reads_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    tunable = settings.DT_POLL_MAX_SECONDS
    assert tunable.value() == tunable.default
    monkeypatch.setenv(tunable.name, "45")
    assert tunable.value() == 45.0
    monkeypatch.setenv(tunable.name, "soon")
    with pytest.raises(ValueError, match="DT_POLL_MAX_SECONDS='soon': expected a number"):
        tunable.value()


def test_the_reo_resource_and_client_default_to_the_settings() -> None:
    resource = ReoResource()
    assert resource.max_concurrency == settings.REO_MAX_CONCURRENCY.default
    assert resource.max_requests_per_second == settings.REO_MAX_REQUESTS_PER_SECOND.default
    assert resource.timeout_seconds == settings.REO_TIMEOUT_SECONDS.default
    assert resource.outage_limit_seconds == settings.REO_OUTAGE_LIMIT_SECONDS.default
    retry = (resource.retry_attempts, resource.retry_base_seconds, resource.retry_max_seconds)
    assert retry == (REO_RETRY.attempts, REO_RETRY.base_delay, REO_RETRY.max_delay)
    client = inspect.signature(ReoClient).parameters
    assert client["max_concurrency"].default == resource.max_concurrency
    assert client["timeout_seconds"].default == resource.timeout_seconds
    assert client["outage_limit_seconds"].default == resource.outage_limit_seconds


def test_the_older_reo_concurrency_is_the_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REO_CONCURRENCY", "24")
    assert settings.reo_max_concurrency() == 24
    monkeypatch.setenv("REO_MAX_CONCURRENCY", "200")
    assert settings.reo_max_concurrency() == 200


def test_the_alert_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.ui_url() == "http://127.0.0.1:3000"
    monkeypatch.setenv(settings.REO_DT_UI_URL, "https://dagster.example.com/ ")
    assert settings.ui_url() == "https://dagster.example.com"
    assert settings.alert_warnings() is False
    monkeypatch.setenv(settings.REO_DT_ALERT_WARNINGS, "True")
    assert settings.alert_warnings() is True
    monkeypatch.setenv(settings.REO_DT_ALERT_WARNINGS, "sometimes")
    with pytest.raises(ValueError, match="REO_DT_ALERT_WARNINGS='sometimes': expected true or"):
        settings.alert_warnings()


BAD_SETTINGS = {
    "DT_TIMEOUT_SECONDS": ("soon", "expected a number >= 0 (default 30)"),
    "DT_RETRY_ATTEMPTS": ("2.5", "expected a whole number >= 0 (default 5)"),
    "REO_DT_LOAD_MEMORY_MB": ("100", "expected a whole number >= 512 (default 1024)"),
    "REO_EVENT_ID_TYPE": ("uuid", "expected one of integer, string"),
    "REO_DT_ALERT_WARNINGS": ("sometimes", "expected true or false"),
    "DT_REPORTS_PER_DAY": ("0", "expected a whole number >= 1, or unset for no limit"),
    "REO_INGEST_BASE_URL": ("ingest.reo.dev", "expected an http(s) URL such as https://ingest"),
    "REO_DT_USER_DIRECTORY": ("duckdb:", "expected duckdb:<table> with the name of a table"),
    "REO_DT_LOOKBACK_DAYS": ("a week", "expected a whole number of days"),
    "REO_DT_APPS_FILE": ("no-such-catalog.toml", "no such file; expected the app catalog"),
}


def test_every_bad_setting_is_named_in_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``defs()`` checks first: each bad variable with its value and what it expects, and
    never a secret, which is read only when a run uses it."""
    from reo_dt_assets.definitions import defs

    settings.validate()  # the tests' environment is good
    for name, (value, _) in BAD_SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(settings.DT_CLIENT_SECRET, "hush-hush-secret")
    monkeypatch.setenv(settings.REO_DT_ALERT_URLS, "json://hooks.example/token-123")
    with pytest.raises(settings.SettingsError) as failure:
        defs()
    said = str(failure.value)
    assert said.startswith(f"{len(BAD_SETTINGS)} setting(s) in the environment cannot be used")
    for name, (value, expected) in BAD_SETTINGS.items():
        assert f"{name}={value!r}: {expected}" in said, name
    assert "hush-hush" not in said and "token-123" not in said
