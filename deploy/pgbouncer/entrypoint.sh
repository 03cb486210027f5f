#!/bin/sh
# Writes PgBouncer's settings from the environment, then runs it in the foreground.
#   DB_HOST, DB_PORT          where PostgreSQL listens
#   APP_DB_PASSWORD           the app role's password (mastery_app: the only role that connects
#                             through the pooler; migrations connect to PostgreSQL directly)
#   POOL_SIZE, MAX_CLIENTS    server connections per database, client connections in all
set -eu
dir=/tmp/pgbouncer
mkdir -p "$dir"
printf '"mastery_app" "%s"\n' "$APP_DB_PASSWORD" > "$dir/userlist.txt"
cat > "$dir/pgbouncer.ini" <<INI
[databases]
mastery = host=${DB_HOST:-db} port=${DB_PORT:-5432} dbname=mastery
[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
; Transaction mode: the app sets its tenant settings per transaction (SET LOCAL, mastery/rls.py),
; so a server connection may serve another client after each transaction.
pool_mode = transaction
default_pool_size = ${POOL_SIZE:-20}
max_client_conn = ${MAX_CLIENTS:-500}
server_reset_query =
; Django sends the session's options (jit, random_page_cost); the role keeps them instead
; (deploy/app-role.sql).
ignore_startup_parameters = extra_float_digits,options
INI
exec pgbouncer "$dir/pgbouncer.ini"
