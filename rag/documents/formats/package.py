"""The zip container of Office Open XML files (DOCX, PPTX, XLSX), checked before any parser opens it.

A file that is not a zip archive is refused with a hint to re-save it; one that
would unpack to far more than its size (a zip bomb) is refused before anything
is unpacked. The XML inside is read by python-docx, python-pptx and openpyxl,
whose parsers do not resolve external entities.
"""

from __future__ import annotations

import io
import zipfile

from rag.errors import LoadError

__all__ = ["check_package"]

# refuse to unpack more than this many times the file's size (at least 1 MiB counts), or this much at all
MAX_UNPACK_RATIO = 100
MAX_UNPACK_BYTES = 512 * 1024 * 1024


def check_package(data: bytes, kind: str, application: str) -> None:
    """Raise ``LoadError`` unless ``data`` is a zip archive of a sane unpacked size.

    ``kind`` names the format in the message ("DOCX"), ``application`` the
    program to re-save it from ("Word").
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as err:
        raise LoadError(f"not a valid {kind} (it is not a zip archive): re-save it from {application}") from err
    if unpacked > min(MAX_UNPACK_BYTES, max(len(data), 1 << 20) * MAX_UNPACK_RATIO):
        raise LoadError(f"{kind} unpacks to {unpacked / (1024 * 1024):.0f} MB, too much for its size (a zip bomb?)")
