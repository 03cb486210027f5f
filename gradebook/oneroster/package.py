"""Where a OneRoster package comes from: a zip file, a directory, or CSV files uploaded together.

Every source ends up as the same thing, file name → bytes, so the parser and the service never
know where the files were read from. Zip archives are read with limits (entries, sizes, the
compression ratio), since an upload is untrusted input.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

from gradebook.oneroster.parser import MANIFEST, SPECS

# The files this import reads; any other file of the package (demographics.csv, …) is left alone.
KNOWN_FILES = (MANIFEST, *SPECS)
MAX_ENTRIES = 200
MAX_FILE_BYTES = 200 * 1024 * 1024  # uncompressed, per file
MAX_TOTAL_BYTES = 500 * 1024 * 1024  # uncompressed, all files together
MAX_RATIO = 200  # a zip bomb compresses far better than any roster
# An upload unpacks inside a web worker: a tighter ceiling than the command line's.
MAX_UPLOAD_TOTAL_BYTES = 100 * 1024 * 1024


class PackageError(ValueError):
    """The package as a whole cannot be read (not a zip, too large, two files of the same name)."""


def _canonical(name: str) -> str | None:
    """The binding's spelling of a known file name (people rename files on case-insensitive disks)."""
    lowered = {known.lower(): known for known in KNOWN_FILES}
    return lowered.get(name.lower())


def read_zip(data: bytes, *, max_total: int = MAX_TOTAL_BYTES) -> dict[str, bytes]:
    """The known CSV files of a zip archive, by name (files may sit in one folder of the archive)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise PackageError("The file is not a zip archive.") from exc
    with archive:
        entries = [i for i in archive.infolist() if not i.is_dir()]
        if len(entries) > MAX_ENTRIES:
            raise PackageError(f"The archive has more than {MAX_ENTRIES} files.")
        files: dict[str, bytes] = {}
        total = 0
        for info in entries:
            path = PurePosixPath(info.filename)
            if any(part.startswith((".", "__MACOSX")) for part in path.parts):
                continue
            name = _canonical(path.name)
            if name is None:
                continue
            if name in files:
                raise PackageError(f"The archive has two files named {name}.")
            if info.file_size > MAX_FILE_BYTES:
                raise PackageError(f"{name} is larger than {MAX_FILE_BYTES // 2**20} MB.")
            if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                raise PackageError(f"{name} is compressed suspiciously well; it was not read.")
            total += info.file_size
            if total > max_total:
                raise PackageError(f"The archive holds more than {max_total // 2**20} MB.")
            try:
                files[name] = archive.read(info)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
                raise PackageError(f"{name} cannot be read from the archive: {exc}.") from exc
    return files


def read_directory(path: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for entry in sorted(path.iterdir()):
        name = _canonical(entry.name)
        if name is None or not entry.is_file():
            continue
        if name in files:
            raise PackageError(f"The directory has two files named {name}.")
        if entry.stat().st_size > MAX_FILE_BYTES:
            raise PackageError(f"{name} is larger than {MAX_FILE_BYTES // 2**20} MB.")
        files[name] = entry.read_bytes()
    return files


def read_path(path: str | Path) -> dict[str, bytes]:
    """A package on disk: a directory of CSV files or a zip archive of them."""
    path = Path(path)
    if path.is_dir():
        return read_directory(path)
    if path.is_file():
        return read_zip(path.read_bytes())
    raise PackageError(f"{path} is neither a directory nor a zip file.")


def read_uploads(uploads: list[tuple[str, bytes]]) -> dict[str, bytes]:
    """Uploaded files: one zip archive, or the package's CSV files chosen together."""
    if len(uploads) == 1 and uploads[0][0].lower().endswith(".zip"):
        return read_zip(uploads[0][1], max_total=MAX_UPLOAD_TOTAL_BYTES)
    files: dict[str, bytes] = {}
    for filename, data in uploads:
        if filename.lower().endswith(".zip"):
            raise PackageError("Upload one zip archive on its own, or the CSV files without it.")
        name = _canonical(PurePosixPath(filename).name)
        if name is None:
            continue
        if name in files:
            raise PackageError(f"Two of the files are named {name}.")
        files[name] = data
    return files
