import pytest

from app.services.uploads import UploadError, boundary_of, clean_filename


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"photo.png", "photo.png"),
        ("été.txt".encode(), "été.txt"),
        (b"a\x00b\x1f.txt", "ab.txt"),
        (b"..\\..\\boot.ini", "boot.ini"),
        (b"   ", "file"),
        (b"n" * 300, "n" * 255),
    ],
)
def test_clean_filename_keeps_a_displayable_base_name(raw: bytes, shown: str) -> None:
    assert clean_filename(raw) == shown


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "multipart/form-data", "multipart/mixed; boundary=x"]
)
def test_only_multipart_form_data_with_a_boundary_is_accepted(content_type: str | None) -> None:
    with pytest.raises(UploadError) as error:
        boundary_of(content_type)
    assert error.value.status_code == 415
