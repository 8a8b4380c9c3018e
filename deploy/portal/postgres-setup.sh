#!/usr/bin/env bash
# Create the portal's PostgreSQL role and database on this host, for peer authentication.
# Safe to run again: it creates what is missing and re-applies the settings.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: postgres-setup.sh [--role NAME] [--database NAME]

Run as root on the database host (the portal host itself). Creates, unless they exist:
  - a login role named like the portal's system user (default: lanthorn), with no
    password: it connects over the Unix socket and PostgreSQL's "peer" authentication
    checks that the connecting system user has the same name;
  - a database owned by that role (default: lanthorn), which no other role may connect
    to. The portal creates and migrates its own tables at start.
It also sets, for that role in that database, logging that records no statements, no
parameters and no error details (they would carry lookup ids and ciphertext, with a
time of day).

Then put into /etc/lanthorn/portal.env:
  LANTHORN_DATABASE_URL=postgresql+psycopg://lanthorn@/lanthorn?host=/run/postgresql

Debian's pg_hba.conf already has the line peer authentication needs:
  local   all   all   peer

Options:
  --role NAME       the role; must equal the system user the portal runs as (lanthorn)
  --database NAME   the database (lanthorn)
  -h, --help        this text

Connection settings for psql come from the usual PG* variables (PGHOST, PGPORT);
it runs psql as the postgres system user.
EOF
}

role=lanthorn
database=lanthorn
while [ $# -gt 0 ]; do
    case "$1" in
    --role)
        role="${2:?--role needs a name}"
        shift 2
        ;;
    --database)
        database="${2:?--database needs a name}"
        shift 2
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "postgres-setup.sh: unknown argument: $1 (see --help)" >&2
        exit 2
        ;;
    esac
done

for name in "$role" "$database"; do
    if ! [[ "$name" =~ ^[a-z_][a-z0-9_]*$ ]]; then
        echo "postgres-setup.sh: '$name' is not a plain lower-case SQL name" >&2
        exit 2
    fi
done

if [ "$(id -u)" -ne 0 ]; then
    echo "postgres-setup.sh: run as root (it runs psql as the postgres user)" >&2
    exit 1
fi

psql_as_postgres() {
    runuser -u postgres -- psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 "$@"
}

# Names are checked above, so they can stand unquoted in SQL.
psql_as_postgres --dbname=postgres <<SQL
SELECT 'CREATE ROLE $role LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role') \gexec
ALTER ROLE $role NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD NULL;
SELECT 'CREATE DATABASE $database OWNER $role'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$database') \gexec
ALTER DATABASE $database OWNER TO $role;
REVOKE ALL ON DATABASE $database FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE $database TO $role;
-- What the server logs about the portal's sessions: no statements, no parameters, no
-- durations, and no error lines (a unique-key error names the lookup id it refused).
ALTER ROLE $role IN DATABASE $database SET log_statement = 'none';
ALTER ROLE $role IN DATABASE $database SET log_min_duration_statement = -1;
ALTER ROLE $role IN DATABASE $database SET log_duration = off;
ALTER ROLE $role IN DATABASE $database SET log_min_error_statement = 'panic';
ALTER ROLE $role IN DATABASE $database SET log_min_messages = 'panic';
ALTER ROLE $role IN DATABASE $database SET log_parameter_max_length = 0;
ALTER ROLE $role IN DATABASE $database SET log_parameter_max_length_on_error = 0;
SQL

echo "Role '$role' and database '$database' are ready (peer authentication)."
echo "In /etc/lanthorn/portal.env:"
echo "  LANTHORN_DATABASE_URL=postgresql+psycopg://$role@/$database?host=/run/postgresql"
