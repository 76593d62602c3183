import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from app import prestart
from app.core.config import settings
from app.core.security import password_hash
from app.models import Role, User


def _admin_rows() -> list[tuple[str, str, Role]]:
    engine = create_engine(settings.database_url, poolclass=NullPool)
    with engine.connect() as connection:
        rows = connection.execute(
            # Other tests make admins too (tests/test_manage.py): only the first admin counts.
            select(User.email, User.hashed_password, User.role).where(
                User.email == settings.FIRST_ADMIN_EMAIL
            )
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def test_prestart_created_the_first_admin_once_and_never_resets_it(monkeypatch) -> None:
    ((email, first_hash, role),) = _admin_rows()  # created by the session's own prestart run
    assert email == settings.FIRST_ADMIN_EMAIL
    assert role == Role.ADMIN
    assert password_hash.verify(settings.FIRST_ADMIN_PASSWORD, first_hash)

    # A restart with another password in .env: migrations are a no-op, the admin is untouched.
    monkeypatch.setattr(
        prestart, "settings", settings.model_copy(update={"FIRST_ADMIN_PASSWORD": "x" * 20})
    )
    prestart.main()
    assert _admin_rows() == [(email, first_hash, Role.ADMIN)]


def test_migrations_leave_the_schema_at_the_latest_revision() -> None:
    engine = create_engine(settings.database_url, poolclass=NullPool)
    with engine.connect() as connection:
        version = connection.scalar(text("SELECT version_num FROM alembic_version"))
    engine.dispose()
    assert version == "0008"  # alembic/versions/0008_*, the newest


def test_the_first_admin_is_named_in_the_interface_language(monkeypatch) -> None:
    from app.core import messages

    engine = create_engine(settings.database_url, poolclass=NullPool)
    with engine.connect() as connection:
        name = connection.scalar(
            select(User.full_name).where(User.email == settings.FIRST_ADMIN_EMAIL)
        )
    engine.dispose()
    assert name == "Site manager"  # UI_LANGUAGE=en in tests/conftest.py; not the role's name
    monkeypatch.setattr(messages, "settings", settings.model_copy(update={"UI_LANGUAGE": "fr"}))
    assert messages.say("first_admin_name") == "Responsable du site"


def test_prestart_gives_up_with_a_clear_message_when_the_database_is_unreachable() -> None:
    unreachable = settings.database_url.set(host="127.0.0.1", port=1)
    engine = create_engine(unreachable, poolclass=NullPool)
    with pytest.raises(SystemExit) as exit_info:
        prestart.wait_for_database(engine, timeout=0.5, interval=0.1)
    assert "did not answer" in str(exit_info.value)
    assert "POSTGRES_" in str(exit_info.value)
