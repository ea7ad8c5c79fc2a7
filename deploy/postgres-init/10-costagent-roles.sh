#!/bin/sh
# The database roles of the compose deployment: costagent never runs as a superuser.
#
# The postgres image runs this once, when it initialises an empty data volume
# (/docker-entrypoint-initdb.d), as the superuser POSTGRES_USER.  It creates
#   - COSTAGENT_DB_USER (default costagent): the daemon's LOGIN role; it owns the database
#     (and so, on PostgreSQL 15+, its public schema) and may migrate it, but it is no superuser
#     and cannot create roles or databases;
#   - costagent_reader: the NOLOGIN role `costagent sql` runs queries as (SELECT only; see
#     README "Security"), granted to the daemon's role so that its migration can set it up.
# A volume initialised before this script existed: run it by hand (README "Security").
set -eu
: "${COSTAGENT_DB_PASSWORD:?set COSTAGENT_DB_PASSWORD in deploy/.env}"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_user="${COSTAGENT_DB_USER:-costagent}" -v db="$POSTGRES_DB" <<'SQL'
\getenv app_password COSTAGENT_DB_PASSWORD
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION '
              'NOBYPASSRLS', :'app_user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app_user') \gexec
ALTER ROLE :"app_user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'app_password';
SELECT 'CREATE ROLE costagent_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'costagent_reader') \gexec
GRANT costagent_reader TO :"app_user";
ALTER DATABASE :"db" OWNER TO :"app_user";
SQL
