"""hydroserve.odc_sync."""
