"""What ``dg scaffold defs <component> <path>`` writes: a ``defs.yaml`` that ``dg check yaml`` and
``dg check defs`` accept as it is, each attribute a user would change commented with what it
means, and, for the source, a sample app catalog (the sandbox's apps) beside it."""

from pathlib import Path
from typing import Any

import dagster as dg
from dagster.components.component_scaffolding import scaffold_component

SOURCE_YAML = """\
type: {type_name}

attributes:
  # The DT apps to pull, and what their Reo.Dev events carry: the TOML file beside this one
  # (or inline: `catalog: {{start_days_ago: 10, apps: [{{app_id: "148721", ...}}]}}`).
  catalog_file: apps.toml
  # The environment variables that hold DT's credentials and base URL (values never go here).
  credentials:
    client_id_env: DT_CLIENT_ID
    client_secret_env: DT_CLIENT_SECRET
    base_url_env: DT_REPORTING_BASE_URL
  # Days pulled again as DT restates them (1: yesterday); default REO_DT_PULL_AGES or 1,2,3,8.
  pull_ages: [1, 2, 3, 8]
  # DT's report requests allowed per UTC day / per minute across every run (default: none).
  # reports_per_day: 100
  # Where the raw reports and the DuckDB file go (default: REO_DT_DATA_DIR or ./data, and
  # REO_DT_DUCKDB_PATH or <data_dir>/reo_dt.duckdb).
  # data_dir: data
  # duckdb_path: data/reo_dt.duckdb
  # A second DT account in one project: a prefix for its asset keys, resource keys, jobs and
  # pools (acct2/user_revenue, acct2_duckdb, acct2_dt_reporting), and its own data_dir.
  # asset_key_prefix: [acct2]
  group_name: ad_revenue
"""

SAMPLE_CATALOG = """\
# The app catalog: every Digital Turbine app pulled, and what its Reo.Dev events carry. These are
# the sandbox's apps (`python -m reo_dt_assets.sandbox`); list your own DT app IDs for production.
start_days_ago = 10   # the first partition: DT keeps about the last 10 days

[[apps]]
app_id = "148721"                 # DT app ID
product_id = "puzzle-quest"       # Reo.Dev product_id of the events
activity_type = "AD_REVENUE"      # Reo.Dev activity_type, as set up in Product Usage Settings
environment = "PRODUCTION"        # optional

[[apps]]
app_id = "203945"
product_id = "word-garden"
activity_type = "AD_REVENUE"
"""

DELIVERY_YAML = """\
type: {type_name}

attributes:
  # The DigitalTurbineSource whose user_revenue is delivered: its folder, relative to defs/.
  source: {source}
  # The environment variables that hold the Reo.Dev API key and base URL.
  credentials:
    api_key_env: REO_API_KEY
    base_url_env: REO_INGEST_BASE_URL
  # Build, validate and record the events but send nothing (a preview in the metadata).
  dry_run: false
  # event_id on the wire: integer (Reo.Dev's examples) or string (default REO_EVENT_ID_TYPE).
  # event_id_type: integer
  # Per app, over the source's catalog: product_id, activity_type, environment,
  # correction_activity_type (one correction event per user a later pull moved).
  # apps:
  #   "148721": {{activity_type: AD_REVENUE}}
  # Caps on the pace; Reo.Dev's answers set it below them (default: the environment's).
  # pace: {{max_concurrency: 128, max_requests_per_second: 0}}
  # daily_revenue across apps, the HTML report, their schedule and the landing sensor.
  rollup: true
"""

ALERTS_YAML = """\
type: {type_name}

# Tells the apprise URLs in REO_DT_ALERT_URLS (Slack, e-mail, a webhook) once per incident; on
# when they are set. One per code location.
attributes:
  sensor_name: alerts
"""


def _write(request: dg.ScaffoldRequest[Any], text: str) -> bool:
    """Write ``defs.yaml``; False (scaffolded the plain way) for ``--format python``."""
    if request.scaffold_format != "yaml":
        scaffold_component(request, {})
        return False
    Path(request.target_path, "defs.yaml").write_text(text, encoding="utf-8")
    return True


class SourceScaffolder(dg.Scaffolder):
    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        if _write(request, SOURCE_YAML.format(type_name=request.type_name)):
            catalog = Path(request.target_path, "apps.toml")
            if not catalog.exists():
                catalog.write_text(SAMPLE_CATALOG, encoding="utf-8")


class DeliveryParams(dg.Model):
    source: str = "digital_turbine"


class DeliveryScaffolder(dg.Scaffolder[DeliveryParams]):
    @classmethod
    def get_scaffold_params(cls) -> type[DeliveryParams]:
        return DeliveryParams

    def scaffold(self, request: dg.ScaffoldRequest[DeliveryParams]) -> None:
        source = request.params.source if request.params else "digital_turbine"
        _write(request, DELIVERY_YAML.format(type_name=request.type_name, source=source))


class AlertsScaffolder(dg.Scaffolder):
    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        _write(request, ALERTS_YAML.format(type_name=request.type_name))
