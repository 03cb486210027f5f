"""Rostering from a OneRoster 1.2 CSV package (1EdTech): the parser, the service, the upload form.

`service.oneroster_import` is the one service, its stages the modules beside it (state.py holds
what they share); `python manage.py import_oneroster` and the school admin's upload page
(`gradebook.views.rostering`) both call it.
"""
