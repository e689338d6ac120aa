"""The alert domain: input rules, packets, store, filters, registration (no Flask)."""
