"""What the page reports about itself, and a way to test the error path.

- POST /api/client-errors: the page's own uncaught errors (window.onerror, unhandled promise
  rejections), logged and passed on to Sentry when SENTRY_DSN is set. No account needed (an error
  may happen before sign-in), so it is bounded: the edge limits each address
  (CLIENT_ERRORS_PER_MINUTE) and the body's size, each field has a maximum length, and each worker
  takes at most REPORTS_PER_MINUTE, dropping the rest with 429.
- GET /api/debug/error: a real unhandled exception (500) for a signed-in user, only with
  ENVIRONMENT=local and ENABLE_ERROR_ROUTE=true (config.py refuses the latter anywhere else), for
  the tests of the error path: the id in the answer, in the logs, in the report.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Annotated

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field

from app.api.deps import CurrentUser
from app.api.responses import error
from app.core.config import settings
from app.core.messages import say
from app.core.observability import report_message

router = APIRouter(tags=["reports"])
logger = logging.getLogger("app.client")

REPORTS_PER_MINUTE = 60
_recent: deque[float] = deque(maxlen=REPORTS_PER_MINUTE)

Short = Annotated[str, Field(max_length=500)]


class ClientError(BaseModel):
    kind: Annotated[str, Field(max_length=40)] = "error"
    message: Short
    source: Short = ""
    line: int | None = None
    column: int | None = None
    stack: Annotated[str, Field(max_length=4000)] = ""
    page: Short = ""  # the page's route (#/files), never a query string


def _one_more_report() -> bool:
    now = time.monotonic()
    if len(_recent) == REPORTS_PER_MINUTE and now - _recent[0] < 60:
        return False
    _recent.append(now)
    return True


@router.post(
    "/client-errors",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={429: error("More than REPORTS_PER_MINUTE reports on this worker: this one dropped")},
)
async def report_client_error(report: ClientError) -> Response:
    if not _one_more_report():
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, detail=say("too_many_reports"))
    fields = report.model_dump()
    fields["page"] = fields["page"].split("?", 1)[0]
    logger.warning("page error: %s", report.message, extra={"fields": {"client_error": fields}})
    report_message(f"page error: {report.message}", "error", fields)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


debug_router = APIRouter(prefix="/debug", tags=["debug"])


@debug_router.get("/error")
async def fail_on_purpose(user: CurrentUser) -> None:
    """As a signed-in user, so the report and the log lines name the account (by id)."""
    raise RuntimeError(f"ENABLE_ERROR_ROUTE: a deliberate error for account {user.id}")


def error_route_enabled() -> bool:
    return settings.ENVIRONMENT == "local" and settings.ENABLE_ERROR_ROUTE
