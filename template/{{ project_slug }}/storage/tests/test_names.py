import re

import pytest

from app import names


def test_generated_names_carry_128_random_bits_and_the_extension() -> None:
    generated = {names.generate_name("png") for _ in range(1000)}
    assert len(generated) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}\.png", name) for name in generated)
    assert re.fullmatch(r"[0-9a-f]{32}", names.generate_name(None))


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        ("Photo.JPEG", None, "jpg"),
        ("scan.pdf", "application/octet-stream", "pdf"),
        ("C:\\Users\\me\\report.DOCX", None, "docx"),
        ("../../etc/archive.tar.gz", None, "gz"),
        ("page.htm", None, "html"),
        ("no-extension", "image/png; charset=binary", "png"),
        ("no-extension", "application/x-unknown", None),
        ("script.exe", None, None),
        ("evil.php.", None, None),
        (".bashrc", None, None),
        ("", None, None),
        ("a." + "x" * 300, None, None),
    ],
)
def test_extension_is_normalised_from_an_allow_list(
    filename: str, content_type: str | None, expected: str | None
) -> None:
    assert names.normalise_extension(filename, content_type) == expected


@pytest.mark.parametrize(
    "name",
    [
        "..",
        "../etc/passwd",
        "/etc/passwd",
        "0123456789abcdef0123456789abcdef/..",
        "0123456789abcdef0123456789abcdef\x00.png",
        "0123456789abcdef0123456789abcdef\\..",
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        "0123456789abcdef0123456789abcdef.exe",
        "0123456789abcdef0123456789abcdef.",
        "0123456789abcdef0123456789abcdef.png.txt",
        ".0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef.png\n",
        "%2e%2e",
        "0123456789abcdef0123456789abcdef" * 10,
        "",
    ],
)
def test_anything_but_a_generated_name_is_refused(name: str) -> None:
    assert not names.is_stored_name(name)


def test_a_generated_name_is_accepted_and_sharded() -> None:
    name = names.generate_name("pdf")
    assert names.is_stored_name(name)
    assert names.shard_of(name) == (name[0:2], name[2:4])


@pytest.mark.parametrize(
    ("name", "content_type", "disposition"),
    [
        ("0" * 32 + ".png", "image/png", "inline"),
        ("0" * 32 + ".pdf", "application/pdf", "inline"),
        ("0" * 32 + ".svg", "image/svg+xml", "attachment"),
        ("0" * 32 + ".html", "text/html", "attachment"),
        ("0" * 32, "application/octet-stream", "attachment"),
    ],
)
def test_type_and_disposition_come_from_the_stored_extension(
    name: str, content_type: str, disposition: str
) -> None:
    assert names.content_type_of(name) == content_type
    assert names.disposition_of(name) == disposition
