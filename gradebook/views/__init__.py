"""Gradebook pages. Views parse, authorize, call a selector or a service, and render.

Every page works without JavaScript; with htmx, the same views return template partials.
"""
