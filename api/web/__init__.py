"""Flask web layer: blueprints, HTTP schemas and helpers, pages."""
