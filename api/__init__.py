"""hydroserve.api."""
