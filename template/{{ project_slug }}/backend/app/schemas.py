"""Request and response bodies of the public API (see docs/CONTRACTS.md of the template)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    computed_field,
)

from app.core import audit_text
from app.core.messages import say
from app.core.text import without_hidden_formatting
from app.models import Role
from app.services import links

# No markup or quoting characters either: such an address can sign up but not sign in through
# the form, and it would be shown to administrators.
_NOT_IN_ADDRESS = r"@\s<>\"`()\[\],;:\\"
_EMAIL_PATTERN = re.compile(
    rf"^[^{_NOT_IN_ADDRESS}]+@[^{_NOT_IN_ADDRESS}]+\.[^{_NOT_IN_ADDRESS}.]+$"
)
PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH = 8, 128
ItemT = TypeVar("ItemT")


# Unicode categories no e-mail address needs: controls, invisible and bidirectional formatting
# (U+200B, U+202E, ...), private use, unassigned, and separators (spaces).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zs", "Zl", "Zp"})


def _script_of(char: str) -> str:
    """The script of a letter, from its Unicode name: LATIN, CYRILLIC, GREEK, CJK, ..."""
    return unicodedata.name(char, "UNKNOWN").split(" ")[0]


def normalise_email(value: str) -> str:
    """The one spelling of an address: NFKC (fullwidth letters become ASCII), lower case.

    Refused: invisible or bidirectional characters, and letters of more than one script
    (`аdmin@…` with a Cyrillic `а` is not `admin@…`, but looks like it).
    """
    value = unicodedata.normalize("NFKC", value).strip().lower()
    hidden = sorted(
        {f"U+{ord(c):04X}" for c in value if unicodedata.category(c) in _HIDDEN_CATEGORIES}
    )
    if hidden:
        raise ValueError(say("email_hidden_characters", characters=", ".join(hidden)))
    if not _EMAIL_PATTERN.match(value):
        raise ValueError(say("email_not_an_address"))
    scripts = {_script_of(c) for c in value if c.isalpha()}
    if len(scripts) > 1:
        names = ", ".join(sorted(script.title() for script in scripts))
        raise ValueError(say("email_mixed_scripts", scripts=names))
    return value


def no_control_characters(value: str) -> str:
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise ValueError(say("control_characters"))
    return value


# Normalised once here, so every comparison and the unique index see one spelling.
Email = Annotated[str, Field(max_length=254), AfterValidator(normalise_email)]
Password = Annotated[
    str,
    Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH),
    AfterValidator(no_control_characters),
]
# A name is shown to others (the users page, the audit log): what hides in it is taken out.
FullName = Annotated[
    str,
    Field(max_length=255),
    AfterValidator(no_control_characters),
    AfterValidator(without_hidden_formatting),
]


class RequestBody(BaseModel):
    # An unknown field (e.g. "role") is refused rather than silently ignored.
    model_config = ConfigDict(extra="forbid")


LinkToken = Annotated[str, Field(min_length=1, max_length=100)]


class UserCreate(RequestBody):
    email: Email
    password: Password
    full_name: FullName | None = None
    # The secret of an invitation link (needed unless REGISTRATION=open).
    invitation: LinkToken | None = None


class PasswordReset(RequestBody):
    """A one-time reset link's secret, the account's e-mail and the new password."""

    token: LinkToken
    email: Email
    new_password: Password


class InvitationLookup(RequestBody):
    """An invitation link's secret (in a body, never in a URL that logs keep)."""

    token: LinkToken


class InvitationPublic(BaseModel):
    """The address an invitation was made for (the join page fills it in)."""

    email: str


class AdminUserCreate(RequestBody):
    email: Email
    password: Password
    full_name: FullName | None = None
    role: Role = Role.USER


class InvitationCreate(RequestBody):
    email: Email


class UserUpdate(RequestBody):
    email: Email | None = None
    full_name: FullName | None = None
    # Needed to change the e-mail address (whoever holds a session must not take the account).
    current_password: Annotated[str, Field(max_length=PASSWORD_MAX_LENGTH)] | None = None


class UserAdminUpdate(RequestBody):
    """What an administrator may change; fields left out stay as they are."""

    is_active: bool | None = None
    role: Role | None = None
    # The user's own quota in MB (decimal); null returns them to USER_QUOTA_MB.
    quota_mb: Annotated[int, Field(ge=1, le=100_000_000)] | None = None


class PasswordChange(RequestBody):
    current_password: Annotated[str, Field(max_length=PASSWORD_MAX_LENGTH)]
    new_password: Password


class ErrorMessage(BaseModel):
    """Every error the API answers: a sentence a person understands (422: a list of problems)."""

    detail: str


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    full_name: str | None
    role: Role
    is_active: bool
    created_at: datetime
    # False: an open sign-up whose address's link was not opened yet (it cannot sign in).
    email_verified: bool = True
    # A new address the account asked for, waiting for its link to be opened (mail on only).
    pending_email: str | None = None


class UserAdminView(UserPublic):
    """A user as administrators see them: with their files' count and size against the quota."""

    file_count: int
    used_bytes: int
    quota_bytes: int
    quota_mb: int | None  # set by an administrator; null: USER_QUOTA_MB applies


class UsagePublic(BaseModel):
    file_count: int
    used_bytes: int
    quota_bytes: int
    max_upload_bytes: int  # the largest file an upload may be


class RegistrationPublic(BaseModel):
    registration: Literal["open", "invite", "closed"]
    # Whether the site sends mail (SMTP settings): the sign-in page offers "forgot password" then.
    mail: bool = False


class PasswordResetRequest(RequestBody):
    """ "Forgot password": the address to send a reset link to, if it has an account."""

    email: Email


class VerificationRequest(RequestBody):
    """The address of an account that waits for its verification link (a new one is mailed)."""

    email: Email


class EmailVerification(RequestBody):
    """A verification link's secret."""

    token: LinkToken


class EmailVerified(BaseModel):
    """The account's address once its link was used; `changed`: it replaced the old one."""

    email: str
    changed: bool


class IssuedLinkPublic(BaseModel):
    """A one-time link to hand on: the site's origin followed by `path`."""

    path: str
    expires_at: datetime
    # Whom it is for, as the site spells the address (lower case: the link works for that one).
    email: str
    # Said when the address already had a pending invitation (both links then work).
    notice: str | None = None


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor_id: uuid.UUID | None  # None: the command line, the first start, or a deleted account
    actor_email: str  # as it was when the action was done
    action: str
    target_id: uuid.UUID | None
    target_email: str | None
    detail: str | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        """The entry as a sentence in the site's language."""
        return audit_text.summary(self.action, self.detail)


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 scheme name, not a secret
    expires_in: int  # seconds


class FilePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    size: int
    sha256: str
    content_type: str
    created_at: datetime
    stored_name: str = Field(exclude=True)
    owner_id: uuid.UUID = Field(exclude=True)
    _expires: int = PrivateAttr(default_factory=links.link_expiry)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        """A private download link that works until `url_expires_at` (services/links.py)."""
        return links.download_url(
            stored_name=self.stored_name, owner_id=self.owner_id, expires=self._expires
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def url_expires_at(self) -> datetime:
        return links.expiry_time(self._expires)


# The file list's query (GET /api/files): the text its names contain, and the order of its pages.
FileSearch = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=255),
    AfterValidator(no_control_characters),
]
FileSort = Literal["name", "date", "size"]
SortOrder = Literal["asc", "desc"]
# Without `order`: names A to Z, the newest first, the largest first.
DEFAULT_ORDER: dict[str, SortOrder] = {"name": "asc", "date": "desc", "size": "desc"}


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    total: int


class BackupStatePublic(BaseModel):
    """The backup service's state in a few facts, for the administrators' page."""

    configured: bool  # False: no backup service writes a status file for this site
    ok: bool | None = None
    last_copy_at: datetime | None = None  # the newest archived commit, base backup or snapshot
    drill_at: datetime | None = None
    drill_passed: bool | None = None
    problem: str | None = None  # the first problem the service names (its cause and its fix)
    checked_at: datetime | None = None


class FailedMailPublic(BaseModel):
    """A mail the mailer gave up on, with the server's answer (its body is not shown: it may
    hold a one-time link)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    recipient: str
    subject: str
    attempts: int
    last_error: str | None
    created_at: datetime


class OutboxPublic(BaseModel):
    """The outbox for the administrators' page: whether mail is on, how many mails wait, and the
    failed ones (newest first, at most `FAILED_SHOWN`; `failed` counts them all)."""

    mail: bool
    waiting: int
    failed: int
    failed_mails: list[FailedMailPublic]
