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
# private servers of their own.
#
# When this script installs postgresql or nats-server itself, it stops the
# system services Debian starts for them: that PostgreSQL asks for passwords
# and that NATS has JetStream off, and `syncchain dev` runs its own instead
# (data in .dev/). Servers that were there before are never touched.
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

packages=()
if ! listening "$pg_port" && ! have_postgres; then packages+=(postgresql); fi
if { $for_tests || ! listening "$nats_port"; } && ! have nats-server; then packages+=(nats-server); fi
if { $for_tests || ! listening "$redis_port"; } && ! have redis-server; then packages+=(redis-server); fi
if ! have cc; then packages+=(build-essential pkg-config); fi

if [ ${#packages[@]} -eq 0 ]; then
    exit 0
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
        echo "syncchain needs: ${packages[*]}" >&2
        echo "Run as root: apt-get update && apt-get install -y ${packages[*]}" >&2
        exit 1
    fi
    sudo=(sudo)
fi

echo "Installing ${packages[*]} with apt-get" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"

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
            if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
                "${sudo[@]}" systemctl disable --now nats-server >/dev/null 2>&1 || true
                echo "Stopped and disabled the nats-server service apt started (it lacks JetStream)." >&2
            fi
            ;;
    esac
done
