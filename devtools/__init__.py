"""Developer tooling, not part of the product: the benchmark (`manage.py bench`, `make bench`),
the demo school (`manage.py seed_demo`, `make demo`) and the Spanish catalogue's table
(devtools/translate_es.py).

It may import every app; no app imports it. The production image leaves it out (.dockerignore),
and the settings install it only where it is present (config/settings.py)."""
