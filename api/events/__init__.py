"""The event-table domain: metadata, store, registration, cone search (no Flask)."""
