"""The PostgreSQL database backend: Django's, with the tenant wall in every transaction."""
