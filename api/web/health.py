"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from . import errors
from .services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """The catalog answers a query."""
    try:
        with services().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        return errors.problem(503, f"The catalog is not reachable: {type(error).__name__}.", headers={"Retry-After": "5"})
    return jsonify(status="ready")
