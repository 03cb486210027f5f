"""The upload form of the rostering page: one .zip, or the package's .csv files chosen together."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from gradebook.oneroster.package import PackageError, read_uploads

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
ACCEPTED = (".zip", ".csv")


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A file field that takes several files (a list), as Django's documentation shows."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": ".zip,.csv,application/zip,text/csv"})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        clean_one = super().clean
        if isinstance(data, list | tuple):
            return [clean_one(item, initial) for item in data] or [clean_one(None, initial)]
        return [clean_one(data, initial)]


class RosterImportForm(forms.Form):
    files = MultipleFileField(
        label=_("OneRoster files"),
        help_text=_(
            "One .zip export, or its .csv files chosen together (manifest.csv among them). "
            "At most 20 MB."
        ),
    )
    dry_run = forms.BooleanField(
        label=_("Only check the files and show what would change; import nothing"), required=False
    )

    def clean_files(self) -> dict[str, bytes]:
        """The package's files by name, read from the upload (limits checked before reading)."""
        uploads = self.cleaned_data["files"]
        for upload in uploads:
            if not upload.name.lower().endswith(ACCEPTED):
                raise forms.ValidationError(
                    _("“%(name)s” is not a .zip or .csv file."), params={"name": upload.name}
                )
        if sum(upload.size for upload in uploads) > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The upload is larger than 20 MB."))
        try:
            files = read_uploads([(upload.name, upload.read()) for upload in uploads])
        except PackageError as exc:
            raise forms.ValidationError(str(exc)) from exc
        if not files:
            raise forms.ValidationError(
                _("None of these files belongs to a OneRoster package (manifest.csv, orgs.csv, …).")
            )
        return files
