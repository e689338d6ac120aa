"""hydroserve.acoustics."""
