-- The role the app connects as, under row-level security (mastery/rls.py): it owns nothing and
-- cannot bypass the policies. docker-compose's db-roles service runs this before every migrate:
-- it creates the role once and keeps its password and attributes as set here. `manage.py
-- migrate`, connected as the owner (MIGRATE_DATABASE_URL), then grants it what it needs.
\set ON_ERROR_STOP on
\getenv app_password APP_DB_PASSWORD
SELECT format('CREATE ROLE mastery_app LOGIN PASSWORD %L', :'app_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mastery_app') \gexec
SELECT format(
  'ALTER ROLE mastery_app LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS',
  :'app_password'
) \gexec
-- PostgreSQL before 15 let every role create tables in `public`: the app's role must own none.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- What config/settings.py asks of every session in its startup options, which PgBouncer does not
-- pass on (docker-compose.yml puts it in front of PostgreSQL): kept on the role instead.
ALTER ROLE mastery_app SET jit = off;
ALTER ROLE mastery_app SET random_page_cost = 1.1;
