"""Rostering from a OneRoster 1.2 CSV package (1EdTech): the parser, the service, the upload form.

`oneroster_import` is the one service; `python manage.py import_oneroster` and the school admin's
upload page (`gradebook.views.rostering`) both call it.
"""

from gradebook.oneroster.package import PackageError, read_path, read_uploads, read_zip
from gradebook.oneroster.report import ImportReport
from gradebook.oneroster.service import oneroster_import

__all__ = [
    "ImportReport",
    "PackageError",
    "oneroster_import",
    "read_path",
    "read_uploads",
    "read_zip",
]
