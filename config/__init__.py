"""The site: settings, URLs, the WSGI and Celery entry points and the few pages above every app.

It sits on top of the apps (mastery → grading → gradebook → intervention → reports) and is the
only package that may import all of them; the import-linter contracts in pyproject.toml say so."""

# The Celery app is loaded with Django so that @shared_task binds to it.
from config.celery import app as celery_app

__all__ = ("celery_app",)
