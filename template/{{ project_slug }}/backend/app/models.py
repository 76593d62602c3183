"""Database tables as typed SQLAlchemy 2 ORM classes (Pydantic schemas live in schemas.py)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic migrations can name what they alter or drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


def _now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # Stored lower-cased (see schemas.Email), so uniqueness is case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(255))
    hashed_password: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", values_callable=lambda roles: [r.value for r in roles]),
        default=Role.USER,
    )
    is_active: Mapped[bool] = mapped_column(default=True)
    # False only for an open sign-up while the site sends mail, until the address's link is
    # opened (services/verification.py): such an account cannot sign in yet.
    email_verified: Mapped[bool] = mapped_column(default=True, server_default=true())
    # This user's storage quota in MB when an administrator set one; None: USER_QUOTA_MB.
    quota_mb: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now_column()


class LinkKind(enum.StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a kind of link, not a secret
    # Mailed to an address to prove it is the account's: an open sign-up's, or a new one's.
    EMAIL_VERIFICATION = "email_verification"


class AccountLink(Base):
    """A one-time link: an invitation to sign up, a password reset (an administrator hands them
    on, or the site mails them), or an address's verification (mailed).

    Only the SHA-256 of the link's secret is kept, so a copy of the database opens no account.
    """

    __tablename__ = "account_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    kind: Mapped[LinkKind] = mapped_column(
        Enum(LinkKind, name="link_kind", values_callable=lambda kinds: [k.value for k in kinds])
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))  # who may use it
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now_column()


class AuditEntry(Base):
    """One action on an account: who did what to whom, and when. The ids say which accounts (an
    address can change hands); the e-mails are copied as they were at that moment, so an entry
    still reads right after either account is renamed or deleted."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    actor_email: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    target_email: Mapped[str | None] = mapped_column(String(254))
    detail: Mapped[str | None] = mapped_column(String(500))


class RefreshToken(Base):
    """One issued refresh token. A login starts a family; each refresh rotates within it."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)  # the token's `jti`
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when the token was exchanged for a new one: presenting it again means it leaked.
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now_column()


class File(Base):
    __tablename__ = "files"
    __table_args__ = (Index("ix_files_owner_id_created_at", "owner_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))  # the user's original file name
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)  # the storage's name
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = _now_column()


# The file list's search (name contains, any case or accent: trigrams on folded(name), the SQL
# function of migration 0006) and sort orders (migration 0004).
Index(
    "ix_files_name_trigram",
    func.folded(File.name).label("folded_name"),
    postgresql_using="gin",
    postgresql_ops={"folded_name": "gin_trgm_ops"},
)
Index("ix_files_owner_id_lower_name", File.owner_id, func.lower(File.name), File.id)
Index("ix_files_owner_id_size", File.owner_id, File.size, File.id)


class AuthThrottle(Base):
    """Failed attempts of one account or device (services/throttle.py); a success deletes it."""

    __tablename__ = "auth_throttle"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int]
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Milestone(Base):
    """Something that happens once in a site's life (prestart's first administrator): the row
    remembers it, whatever becomes of the accounts afterwards."""

    __tablename__ = "milestones"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    reached_at: Mapped[datetime] = _now_column()


class PendingOwnerBlock(Base):
    """Storage's block of an owner's download links, still to be told to storage (an outbox):
    written in the transaction that (de)activates the account, deleted once storage has it."""

    __tablename__ = "pending_owner_blocks"

    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    blocked: Mapped[bool]
    # Which change this row says: a delivery deletes the row only if no newer change replaced it.
    version: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)


class MailStatus(enum.StrEnum):
    WAITING = "waiting"
    SENT = "sent"
    FAILED = "failed"


class OutboxMail(Base):
    """A mail to send (app/mail/): written in the transaction of the change that causes it, sent
    by the mailer process, which marks it sent in the transaction that holds its row lock."""

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    # The Message-ID header, the same on every attempt: a mail delivered twice (see
    # app/mail/sender.py) reads as one message in the recipient's client.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(String(255))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    status: Mapped[MailStatus] = mapped_column(
        Enum(MailStatus, name="mail_status", values_callable=lambda s: [m.value for m in s]),
        default=MailStatus.WAITING,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = _now_column()
    # The SMTP server's last answer (or the connection's error), for administrators.
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_column()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
