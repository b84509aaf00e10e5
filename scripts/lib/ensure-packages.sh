#!/usr/bin/env bash
# Makes sure the machine can build syncchain and run its dependencies.
#
# For each of PostgreSQL, NATS and Redis: when nothing listens on its port
# and its server is not installed, install it with apt-get (one `apt-get
# update`, then one install), using sudo when not root. Where apt-get is not
# available, say exactly what to install and stop. A C toolchain (`cc`, for
# the few crates with C parts) is installed the same way when missing.
#
# With --tests, nats-server and redis-server are installed even when
# something already listens on their ports: some tests stop and restart
# private servers of their own; and python3-venv, for the deployment checks.
#
# When this script installs postgresql, nats-server or redis-server itself,
# it stops the system services Debian starts for them: that PostgreSQL asks
# for passwords and that NATS has JetStream off, and all three would keep
# running after syncchain stops; syncchain starts its own instead (data in
# .dev/) and stops them when it ends. Servers that were there before are
# never touched. Packages are installed without their recommendations.
#
# Then, before anything is built, it checks the servers that already listen
# on the three ports: a PostgreSQL that wants a password, a NATS without
# JetStream or a Redis that wants a password would only fail after the
# build; each is reported now with what to do. A server whose URL variable
# is set (SYNCCHAIN_TEST_*_URL for the tests, the services' own for dev) is
# not checked: it is the user's choice.
set -euo pipefail

pg_port="${SYNCCHAIN_DEV_PG_PORT:-5432}"
nats_port="${SYNCCHAIN_DEV_NATS_PORT:-4222}"
redis_port="${SYNCCHAIN_DEV_REDIS_PORT:-6379}"

listening() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

have() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]
}

have_postgres() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { have postgres && have initdb; }
}

for_tests=false
if [ "${1:-}" = "--tests" ]; then for_tests=true; fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Stops and disables a service apt started, with systemd or without it.
stop_service() {
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        "${sudo[@]}" systemctl disable --now "$1" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$1" ]; then
        "${sudo[@]}" "/etc/init.d/$1" stop >/dev/null 2>&1 || true
        if command -v update-rc.d >/dev/null 2>&1; then
            "${sudo[@]}" update-rc.d "$1" disable >/dev/null 2>&1 || true
        fi
    else
        return 0
    fi
    echo "The $1 service apt installs is stopped and will not start at boot ($2)." >&2
}

install_missing() {
    packages=()
    if ! listening "$pg_port" && ! have_postgres; then packages+=(postgresql); fi
    if { $for_tests || ! listening "$nats_port"; } && ! have nats-server; then packages+=(nats-server); fi
    if { $for_tests || ! listening "$redis_port"; } && ! have redis-server; then packages+=(redis-server); fi
    if ! have cc; then packages+=(build-essential pkg-config); fi
    # The deployment checks install docker-compose and kubernetes-validate
    # into virtualenvs (scripts/lib/check-deploy.sh).
    if $for_tests && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        packages+=(python3-venv)
    fi

    if [ ${#packages[@]} -eq 0 ]; then
        return 0
    fi

    if ! command -v apt-get >/dev/null 2>&1; then
        echo "syncchain needs: ${packages[*]}" >&2
        echo "apt-get is not available here: install these with your package manager" >&2
        echo "(PostgreSQL with initdb, nats-server, redis-server, a C compiler), then run this again." >&2
        exit 1
    fi

    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            # This same script, run as root, installs them and also does the
            # follow-up below (stopping the services apt starts), which a bare
            # apt-get install would skip.
            echo "syncchain needs these packages: ${packages[*]}" >&2
            echo "There is no sudo here. As root, run this (it installs them and stops the PostgreSQL" >&2
            echo "cluster and nats-server service Debian starts, which syncchain cannot use):" >&2
            echo "" >&2
            echo "    su -c 'bash $here/ensure-packages.sh${1:+ $1}'" >&2
            echo "" >&2
            echo "then run your command again." >&2
            exit 1
        fi
        sudo=(sudo)
    fi

    echo "Installing ${packages[*]} with apt-get" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"

    for package in "${packages[@]}"; do
        case "$package" in
            postgresql)
                # Debian creates and starts a "main" cluster that wants passwords
                # over TCP; keep it stopped so `syncchain dev` starts its own.
                for conf in /etc/postgresql/*/main/start.conf; do
                    [ -e "$conf" ] || continue
                    version="$(basename "$(dirname "$(dirname "$conf")")")"
                    "${sudo[@]}" pg_ctlcluster "$version" main stop 2>/dev/null || true
                    echo manual | "${sudo[@]}" tee "$conf" >/dev/null
                    echo "Stopped the PostgreSQL $version cluster apt started (set to manual start)." >&2
                done
                ;;
            nats-server)
                # Debian's nats-server service runs without JetStream.
                stop_service nats-server "it lacks JetStream"
                ;;
            redis-server)
                # Debian's Redis would work, but it would keep running after
                # syncchain stops; syncchain starts (and stops) its own.
                stop_service redis-server "syncchain runs its own"
                ;;
        esac
    done
}

# ---- servers already listening ---------------------------------------------

problems=0
problem() {
    problems=$((problems + 1))
    printf '\n%s\n' "$*" >&2
}

# PostgreSQL: a startup message as user postgres, then the first 9 bytes of
# the answer: "R", length 8 and code 0 is "no password needed".
check_postgres() {
    local answer
    answer=$(timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "\x00\x00\x00\x29\x00\x03\x00\x00user\x00postgres\x00database\x00postgres\x00\x00" >&3
        head -c 9 <&3 | od -An -tx1 | tr -d " \n"
        printf "X\x00\x00\x00\x04" >&3 2>/dev/null || true
    ' _ "$pg_port" 2>/dev/null) || answer=""
    case "$answer" in
        520000000800000000) ;;
        52*)
            problem "The PostgreSQL on 127.0.0.1:$pg_port asks user postgres for a password; syncchain needs one
that trusts local connections. Stop it (Debian: sudo pg_ctlcluster <version> main stop, and
'echo manual | sudo tee /etc/postgresql/<version>/main/start.conf' to keep it stopped) so that
syncchain starts its own, or set $pg_var to a URL with credentials." ;;
        45*)
            problem "The PostgreSQL on 127.0.0.1:$pg_port refuses user postgres (no role or no pg_hba.conf entry).
Stop it so that syncchain starts its own, or set $pg_var to a URL that works." ;;
        *)
            problem "Something listens on 127.0.0.1:$pg_port but does not answer as PostgreSQL within 3 s. Stop it, or
choose another port with SYNCCHAIN_DEV_PG_PORT." ;;
    esac
}

# NATS greets every client with INFO {json}; JetStream must be on.
check_nats() {
    local greeting
    greeting=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && read -r -t 3 line <&3 && echo "$line"' _ "$nats_port" 2>/dev/null) || greeting=""
    case "$greeting" in
        INFO*'"jetstream":true'*) ;;
        INFO*)
            problem "The NATS on 127.0.0.1:$nats_port runs without JetStream, which syncchain needs. Restart it
with -js, or stop it (Debian: sudo systemctl disable --now nats-server) so that syncchain starts
its own, or set $nats_var to one with JetStream." ;;
        *)
            problem "Something listens on 127.0.0.1:$nats_port but does not greet as NATS within 3 s. Stop it, or choose another port
with SYNCCHAIN_DEV_NATS_PORT." ;;
    esac
}

check_redis() {
    local answer
    answer=$(timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "PING\r\n" >&3 && read -r -t 3 line <&3 && echo "$line"' _ "$redis_port" 2>/dev/null) || answer=""
    case "$answer" in
        +PONG*|-LOADING*) ;;
        -NOAUTH*|-WRONGPASS*)
            problem "The Redis on 127.0.0.1:$redis_port wants a password. Set $redis_var=redis://:PASSWORD@127.0.0.1:$redis_port,
or stop it so that syncchain starts its own." ;;
        *)
            problem "Something listens on 127.0.0.1:$redis_port but does not answer as Redis within 3 s. Stop it, or choose another
port with SYNCCHAIN_DEV_REDIS_PORT." ;;
    esac
}

install_missing "$@"

if $for_tests; then
    pg_var=SYNCCHAIN_TEST_DATABASE_URL nats_var=SYNCCHAIN_TEST_NATS_URL redis_var=SYNCCHAIN_TEST_REDIS_URL
    pg_set=${SYNCCHAIN_TEST_DATABASE_URL:-}
else
    pg_var="SYNCCHAIN_USERS_DATABASE_URL (and the PRODUCTS and ORDERS ones)"
    nats_var=SYNCCHAIN_NATS_URL redis_var=SYNCCHAIN_REDIS_URL
    pg_set=${SYNCCHAIN_USERS_DATABASE_URL:-}
fi
if [ -z "$pg_set" ] && listening "$pg_port"; then check_postgres; fi
if [ -z "${!nats_var:-}" ] && listening "$nats_port"; then check_nats; fi
if [ -z "${!redis_var:-}" ] && listening "$redis_port"; then check_redis; fi
if [ "$problems" -gt 0 ]; then
    echo "" >&2
    echo "Nothing was built: fix the above first." >&2
    exit 1
fi
