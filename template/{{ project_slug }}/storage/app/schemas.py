"""Bodies of the storage API's answers."""

from pydantic import BaseModel


class StoredFile(BaseModel):
    name: str
    size: int
    sha256: str
    content_type: str


class FileMeta(BaseModel):
    name: str
    size: int
    # Recorded at upload in an extended attribute; None where the file system keeps none.
    sha256: str | None
    content_type: str


class Status(BaseModel):
    status: str
