"""reo-dt-assets: Digital Turbine user-level ad revenue turned into Reo.Dev product-usage events."""
