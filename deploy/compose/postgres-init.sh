#!/bin/sh
# Run by the postgres image the first time its volume is empty (mounted into
# /docker-entrypoint-initdb.d by compose.yaml): one login role and one
# database per service, each database owned by its role and closed to every
# other role, so a service can reach its own data only. The passwords come
# from the container's environment (USERS_DB_PASSWORD and so on, from .env)
# and reach psql as variables, quoted by psql itself.
#
# Changing a password in .env later does not change the role's password:
# run `ALTER ROLE syncchain_users PASSWORD '...'` in the container, or
# remove the volume (`docker compose down -v`, which deletes the data).
set -eu

for service in users products orders; do
    case $service in
        users) password=${USERS_DB_PASSWORD:?} ;;
        products) password=${PRODUCTS_DB_PASSWORD:?} ;;
        orders) password=${ORDERS_DB_PASSWORD:?} ;;
    esac
    psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
        --set name="syncchain_$service" --set password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
