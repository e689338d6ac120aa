"""Liveness and readiness; writes refused while the catalog is not the one the app opened."""

from __future__ import annotations

import logging

import marshmallow as ma
from flask import jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from . import errors
from .blueprint import Blueprint
from .services import services

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__, description="liveness and readiness")


class StatusSchema(ma.Schema):
    status = ma.fields.String(metadata={"description": "ok (the process answers) or ready (the catalog answers)"})


@bp.route("/healthz")
@bp.response(200, StatusSchema)
def healthz():
    """The process answers."""
    return jsonify(status="ok")


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _catalog_replaced():
    """A 503 problem when the catalog in use is not the one the app opened (file deleted or replaced, another id)."""
    lost = services().catalog_watch.problem()
    if lost is None:
        return None
    log.error("catalog lost: %s", lost)
    return errors.problem(503, f"The catalog is not the one this server opened: {lost}; restart the server once the "
                               "catalog is restored.", kind="catalog-replaced", headers={"Retry-After": "60"})


@bp.route("/readyz")
@bp.response(200, StatusSchema)
@bp.alt_response(503, description="The catalog does not answer, or is not the one this server opened (Retry-After)",
                 **errors.PROBLEM)
def readyz():
    """The catalog answers a query (its id) and is the one the app opened (same id; for SQLite, the same file, looked at
    before connecting)."""
    try:
        replaced = _catalog_replaced()
    except SQLAlchemyError as error:
        return errors.problem(503, f"The catalog is not reachable: {type(error).__name__}.", headers={"Retry-After": "5"})
    return replaced or jsonify(status="ready")


def refuse_writes_to_a_replaced_catalog():
    """``before_request``: a write into a catalog that is not the one opened would be lost (e.g. into a deleted
    SQLite file): 503 instead."""
    if request.method in WRITE_METHODS:
        return _catalog_replaced()
    return None
