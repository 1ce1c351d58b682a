"""The whole chain of one (app, day) partition with every check, as the tests that run it end
to end materialize it (imported only by tests, after conftest points the catalog at theirs)."""

from reo_dt_assets.defs.digital_turbine.assets import dt_user_level_report
from reo_dt_assets.defs.digital_turbine.checks import dt_user_level_report_columns
from reo_dt_assets.defs.reo.assets import reo_usage_events
from reo_dt_assets.defs.reo.checks import reo_usage_events_checks
from reo_dt_assets.defs.revenue.assets import user_revenue
from reo_dt_assets.defs.revenue.checks import user_revenue_checks

CHAIN = [
    dt_user_level_report,
    dt_user_level_report_columns,
    user_revenue,
    user_revenue_checks,
    reo_usage_events,
    reo_usage_events_checks,
]
