"""The report partitions' former home, kept for ``defs/reo/`` (being rewritten elsewhere) until
it imports them from ``defs.partitions``, where they are defined."""

from reo_dt_assets.defs.partitions import report_key, report_of, report_partitions

__all__ = ["report_key", "report_of", "report_partitions"]
