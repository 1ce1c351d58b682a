"""Where the assets show in the UI: one group that opens on the whole flow, an owner, a layer."""

GROUP = "ad_revenue"
OWNERS = ["team:data-platform"]


def layer(name: str) -> dict[str, str]:
    """The tag that says which layer an asset is: raw, table, delivery or rollup."""
    return {"layer": name}
