"""Digital Turbine User Level Reporting API: client and the report's column contract."""
