"""hydroserve.samples."""
