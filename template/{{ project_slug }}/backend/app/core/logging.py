"""Structured logs: one JSON object per line, in the shape every service shares
(app/core/observability.py, docs/observability.md)."""

from __future__ import annotations

import logging

from app.core import observability
from app.core.observability import JsonFormatter

__all__ = ["JsonFormatter", "configure_logging"]


def configure_logging(level: int = logging.INFO, service: str = "backend") -> None:
    """`service` names the process in every line: the mailer (app/mailer.py) runs the backend's
    code in a container of its own."""
    observability.configure_logging(service, level)
