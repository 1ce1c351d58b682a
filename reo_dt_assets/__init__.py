"""reo-dt-assets: Digital Turbine user-level ad revenue turned into Reo.Dev product-usage events.

Polars allocates through jemalloc, which by default keeps freed pages for about 10 s in one arena
per thread group (4 per core), so each stage of a load would sit on the previous stage's memory,
and each bucket of a bucketed load on the last one's. Measured on 5M rows in 3 buckets: returning
pages at once (decay 0) made the bucketing pass twice as slow (it allocates and frees buffers all
the time); a 1 s decay keeps the speed; one arena per core (instead of 4) took another 90 MiB
off the peak at the same speed. Set before polars loads; the environment wins.
"""

import os

os.environ.setdefault(
    "_RJEM_MALLOC_CONF", f"dirty_decay_ms:1000,muzzy_decay_ms:0,narenas:{os.cpu_count() or 1}"
)
