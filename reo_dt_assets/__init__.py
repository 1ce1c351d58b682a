"""reo-dt-assets: Digital Turbine user-level ad revenue turned into Reo.Dev product-usage events.

Polars allocates through jemalloc, which by default keeps freed pages for about 10 s, so each
stage of a load would sit on the previous stage's memory. Measured on 5M rows in 4 buckets: the
default decay peaks near 1.3 GB; returning pages at once (decay 0) peaks at 0.5 GB but makes
the bucketing pass twice as slow (it allocates and frees buffers all the time); a 1 s decay
peaks at 0.7 GB at full speed. Set before polars loads; the environment wins.
"""

import os

os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:1000,muzzy_decay_ms:0")
