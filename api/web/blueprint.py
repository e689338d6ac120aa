"""The Blueprint every API module uses: flask-smorest's, with unknown parameters rejected."""

from __future__ import annotations

import functools
import json

import flask_smorest
from flask import current_app, request
from flask_smorest.utils import set_status_and_headers_in_response, unpack_tuple_response
from marshmallow import RAISE, Schema, ValidationError
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
        """As flask-smorest's, but a schema class is instantiated once here, not on every request; and a view taking
        query parameters that are all optional (the schema loads an empty query to nothing) is called at once when the
        request has no query string, with what parsing it would give: no arguments."""
        schema = schema() if isinstance(schema, type) else schema
        parse_first = super().arguments(schema, *args, **kwargs)
        if kwargs.get("location") != "query" or not kwargs.get("as_kwargs") or not _loads_nothing_from_nothing(schema):
            return parse_first

        def decorator(view):
            parsing = parse_first(view)

            @functools.wraps(parsing)  # with its documentation (_apidoc)
            def called(*view_args, **view_kwargs):
                if not request.query_string:
                    return current_app.ensure_sync(view)(*view_args, **view_kwargs)
                return parsing(*view_args, **view_kwargs)

            return called

        return decorator

    def response(self, status_code, schema=None, *, dumped: bool = True, **kwargs):
        """As flask-smorest's; ``dumped=False``: the view returns its document built to ``schema`` already, and it is
        sent as JSON as it is (as flask-smorest sends a dumped one), without dumping it again: ``schema`` only documents
        it (a page of 100 packages took as long to dump as to build)."""
        document = super().response(status_code, schema, **kwargs)
        if dumped:
            return document

        def decorator(view):
            @functools.wraps(view)
            def sent_as_built(*view_args, **view_kwargs):
                built, status, headers = unpack_tuple_response(view(*view_args, **view_kwargs))
                response = current_app.json.response(built)
                set_status_and_headers_in_response(response, status if status is not None else status_code, headers)
                return response

            sent_as_built._apidoc = document(view)._apidoc
            return sent_as_built

        return decorator

    def alt_response(self, *args, **kwargs):
        """As flask-smorest's, which only documents: the documentation goes on the view, not on a wrapper calling it."""
        return _documenting(super().alt_response(*args, **kwargs))

    def doc(self, *args, **kwargs):
        """As flask-smorest's, which only documents: the documentation goes on the view, not on a wrapper calling it."""
        return _documenting(super().doc(*args, **kwargs))


def _documenting(decorate):
    """A decorator that gives the view the documentation ``decorate`` gives its wrapper, and no wrapper: one call less
    per request (a view is decorated for one route only)."""

    def decorator(view):
        view._apidoc = decorate(view)._apidoc
        return view

    return decorator


def _loads_nothing_from_nothing(schema: Schema) -> bool:
    """Whether ``schema`` loads an empty query to an empty dict (no field is required or has a default, no hook adds
    one)."""
    try:
        return schema.load({}) == {}
    except ValidationError:
        return False
