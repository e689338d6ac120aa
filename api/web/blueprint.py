"""The Blueprint every API module uses: flask-smorest's, with unknown parameters rejected."""

from __future__ import annotations

import flask_smorest
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser


class StrictParser(FlaskParser):
    """Unknown query parameters and body fields are an error (400/422), never silently ignored."""

    DEFAULT_UNKNOWN_BY_LOCATION = {location: RAISE for location in ("query", "json", "form", "headers", "cookies", "files", "view_args")}
    DEFAULT_UNKNOWN_BY_LOCATION["headers"] = None
    DEFAULT_UNKNOWN_BY_LOCATION["cookies"] = None


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()

    def arguments(self, schema, *args, **kwargs):
        """As flask-smorest's, but a schema class is instantiated once here, not on every request."""
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)
