"""Digital Turbine raw layer: one user-level report per (date, app) partition."""
