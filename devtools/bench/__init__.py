"""The benchmark behind `make bench` (`python manage.py bench`).

- `generate`: a synthetic school or district loaded with set-based SQL, reused while its scale matches;
- `measure`: timing helpers and the statistics every measurement reports;
- `runs`: the measurements themselves, each next to its floor where it has one;
- `load`: the family portal under load (gunicorn on loopback, wrk at fixed concurrency).
"""
