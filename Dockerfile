# The code location's image (not built or run in this repository's tests: no container engine
# here). The same image serves the gRPC code server (Helm's user deployment) and runs each run
# (K8sRunLauncher / DockerRunLauncher start it with the run's command).
FROM python:3.11-slim

WORKDIR /opt/reo-dt-assets
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

# Pinned dependencies first (a layer that changes only with the lock): requirements-prod.lock,
# what production runs (requirements.lock's pins without the test and lint tools). The DuckLake
# and postgres extensions come from their wheels: nothing is downloaded when a run starts.
COPY requirements-prod.lock .
RUN pip install --no-cache-dir -r requirements-prod.lock

COPY pyproject.toml README.md apps.toml workspace.yaml ./
COPY reo_dt_assets ./reo_dt_assets
# Installed, not editable: the package is a dg project of its own (reo_dt_assets/dg.toml).
RUN pip install --no-cache-dir --no-deps . && rm -rf build reo_dt_assets

# Settings and secrets come from the environment (deploy/helm/values.yaml): DT_CLIENT_ID,
# DT_CLIENT_SECRET, REO_API_KEY, REO_DT_DUCKLAKE, DAGSTER_PG_URL, REO_DT_DATA_DIR, ...
EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", \
     "-m", "reo_dt_assets.definitions"]
