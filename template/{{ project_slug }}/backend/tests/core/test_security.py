import threading
import time

import anyio
import pytest

from app.core import security

pytestmark = pytest.mark.anyio


async def test_passwords_are_hashed_with_owasp_argon2id_parameters() -> None:
    hashed = await security.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert await security.verify_password("correct horse battery", hashed) == (True, None)
    assert (await security.verify_password("wrong", hashed))[0] is False


async def test_an_unknown_account_is_checked_against_a_dummy_hash() -> None:
    assert await security.verify_password("anything", None) == (False, None)


async def test_a_burst_of_hashes_runs_at_most_the_bounded_number_at_once(monkeypatch) -> None:
    running = peak = 0
    lock = threading.Lock()
    real_hash = security.password_hash.hash

    def counting_hash(password: str) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        try:
            return real_hash(password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(security.password_hash, "hash", counting_hash)
    async with anyio.create_task_group() as group:
        for _ in range(security.HASHING_CONCURRENCY * 3):
            group.start_soon(security.hash_password, "burst password")
    assert peak == security.HASHING_CONCURRENCY
