"""The Blueprint every API module uses: flask-smorest's, with unknown parameters rejected."""

from __future__ import annotations

import json

import flask_smorest
from marshmallow import RAISE
from webargs.flaskparser import FlaskParser, abort


class StrictParser(FlaskParser):
    """Unknown query parameters and body fields are an error (400/422), never silently ignored."""

    DEFAULT_UNKNOWN_BY_LOCATION = {location: RAISE for location in ("query", "json", "form", "headers", "cookies", "files", "view_args")}
    DEFAULT_UNKNOWN_BY_LOCATION["headers"] = None
    DEFAULT_UNKNOWN_BY_LOCATION["cookies"] = None

    def _raw_load_json(self, req):
        """As webargs', but JSON Python cannot hold (nested too deeply, an integer of more than 4300 digits) is a 400
        naming the body, like any other invalid JSON."""
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise
        except RecursionError:
            abort(400, messages={"json": ["Invalid JSON body: nested too deeply."]})
        except ValueError as error:  # int(): "Exceeds the limit (4300 digits) for integer string conversion ..."
            abort(400, messages={"json": [f"Invalid JSON body: {str(error).split(';')[0]}."]})


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()

    def arguments(self, schema, *args, **kwargs):
        """As flask-smorest's, but a schema class is instantiated once here, not on every request."""
        return super().arguments(schema() if isinstance(schema, type) else schema, *args, **kwargs)
