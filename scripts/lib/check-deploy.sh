#!/usr/bin/env bash
# Checks the deployment files without a cluster or a container engine.
# Each section is its own function; main runs them in turn.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# ---- Shared: settings and tools -----------------------------------------
# What each syncchain command needs set when it runs in a container, written
# once for compose and Kubernetes alike: `command: VAR VAR|ALTERNATIVE ...`.
# `serve` refuses to start without a token secret (either variable); every
# other variable listed defaults to 127.0.0.1 (crates/*/src/config.rs,
# crates/syncchain/src/serve.rs), which inside a container is the container
# itself: a service must listen on all interfaces and reach the others by
# name.
REQUIRED_SETTINGS='
serve gateway:  SYNCCHAIN_JWT_SECRET|SYNCCHAIN_JWT_SECRET_FILE SYNCCHAIN_USERS_URL SYNCCHAIN_PRODUCTS_URL SYNCCHAIN_ORDERS_URL SYNCCHAIN_REDIS_URL
serve users:    SYNCCHAIN_JWT_SECRET|SYNCCHAIN_JWT_SECRET_FILE SYNCCHAIN_USERS_ADDR SYNCCHAIN_USERS_DATABASE_URL SYNCCHAIN_NATS_URL
serve products: SYNCCHAIN_JWT_SECRET|SYNCCHAIN_JWT_SECRET_FILE SYNCCHAIN_PRODUCTS_ADDR SYNCCHAIN_PRODUCTS_DATABASE_URL SYNCCHAIN_NATS_URL SYNCCHAIN_REDIS_URL
serve orders:   SYNCCHAIN_JWT_SECRET|SYNCCHAIN_JWT_SECRET_FILE SYNCCHAIN_ORDERS_ADDR SYNCCHAIN_ORDERS_DATABASE_URL SYNCCHAIN_NATS_URL SYNCCHAIN_PRODUCTS_URL
migrate all:    SYNCCHAIN_USERS_DATABASE_URL SYNCCHAIN_PRODUCTS_DATABASE_URL SYNCCHAIN_ORDERS_DATABASE_URL
'
export REQUIRED_SETTINGS

CHECK_DIR=${CARGO_TARGET_DIR:-target}
# docker-compose 1.x needs jsonschema<4 and kubernetes-validate needs >=4, so
# each has a virtualenv of its own.
K8S_VENV=${SYNCCHAIN_CHECK_VENV:-$CHECK_DIR/check-deploy-venv}
COMPOSE_VENV=$CHECK_DIR/check-deploy-compose-venv

# Fails naming each SYNCCHAIN_* variable in FILE that is no setting: one the
# code never names as a string literal.
check_settings_exist() {
    local file=$1 label=$2 var missing=0
    for var in $(grep -oE 'SYNCCHAIN_[A-Z0-9_]+' "$file" | sort -u); do
        if ! grep -rqF "\"$var\"" crates/*/src; then
            echo "check-deploy: $var is set in $label but is no syncchain setting (no \"$var\" in crates/*/src)" >&2
            missing=1
        fi
    done
    return $missing
}

# Prints the path of TOOL in the virtualenv VENV, first making the
# virtualenv and installing into it with one `pip install` per remaining
# argument (each split into words) when TOOL is not there yet. Fails with
# what to install when Python cannot make a virtualenv.
venv_tool() {
    local venv=$1 tool=$2 spec
    shift 2
    if [ -x "$venv/bin/$tool" ]; then
        echo "$venv/bin/$tool"
        return
    fi
    echo "check-deploy: installing $* into $venv" >&2
    if ! python3 -m venv "$venv" >&2 2>/dev/null; then
        rm -rf "$venv"
        echo "check-deploy: cannot make a Python virtualenv with python3 -m venv;" \
            "install python3 with venv (Debian: apt-get install python3-venv)" >&2
        return 1
    fi
    for spec in "$@"; do
        # shellcheck disable=SC2086 # a spec may hold options and a package
        "$venv/bin/pip" install -q $spec >&2 || return 1
    done
    echo "$venv/bin/$tool"
}

# A Python with PyYAML, for the checks that read the rendered files.
yaml_python() {
    if python3 -c 'import yaml' >/dev/null 2>&1; then
        command -v python3
        return
    fi
    if ! "$K8S_VENV/bin/python" -c 'import yaml' >/dev/null 2>&1; then
        rm -rf "$K8S_VENV"
    fi
    venv_tool "$K8S_VENV" python pyyaml
}

# Checks the syncchain containers in a rendered file against
# REQUIRED_SETTINGS (see check-deploy-workloads.py).
check_workloads() {
    "$(yaml_python)" scripts/lib/check-deploy-workloads.py "$@"
}

# The table itself names real settings only.
check_required_settings_table() {
    check_settings_exist <(echo "$REQUIRED_SETTINGS") "REQUIRED_SETTINGS (scripts/lib/check-deploy.sh)"
}
# ---- end of shared -------------------------------------------------------

# ---- Container image (Dockerfile, .dockerignore) -----------------------
# The builder's Rust is the version rust-toolchain.toml pins (the Dockerfile
# does not copy that file in, so a drift would build with another
# compiler), the image runs as the UID:GID the Kubernetes pods assume, and
# the build context starts from nothing (so .env, .dev/, target/ and .git
# never reach it).

check_dockerfile() {
    local channel user file
    channel=$(sed -nE 's/^channel *= *"([0-9]+\.[0-9]+)(\.[0-9]+)?"/\1/p' rust-toolchain.toml)
    echo "check-deploy: Dockerfile builds with rust:$channel, runs as a fixed non-root user"
    if ! grep -qE "^FROM rust:$channel-[a-z]+ AS build" Dockerfile; then
        echo "check-deploy: the Dockerfile's builder is not rust:$channel-<debian release> (rust-toolchain.toml pins $channel)" >&2
        return 1
    fi
    user=$(sed -nE 's/^USER +([0-9]+):([0-9]+)$/\1 \2/p' Dockerfile)
    if [ -z "$user" ] || [ "${user% *}" = 0 ]; then
        echo "check-deploy: the Dockerfile's runtime USER must be a numeric, non-root UID:GID" >&2
        return 1
    fi
    for file in $(grep -l 'image: syncchain' deploy/k8s/base/*.yaml); do
        if grep -E 'runAs(User|Group):' "$file" | grep -vqE "runAsUser: ${user% *}$|runAsGroup: ${user#* }$"; then
            echo "check-deploy: $file runs as another user than the Dockerfile's USER ${user/ /:}" >&2
            return 1
        fi
    done
    # The dependency layer copies each crate's manifest by name: a crate
    # added to the workspace and missing there would fail the image build.
    for file in crates/*/Cargo.toml; do
        if ! grep -qxF "COPY $file ${file%Cargo.toml}" Dockerfile; then
            echo "check-deploy: the Dockerfile's dependency layer does not copy $file" >&2
            return 1
        fi
    done
    if [ "$(grep -vE '^(#|$)' .dockerignore | head -n 1)" != '*' ]; then
        echo "check-deploy: .dockerignore must exclude everything first (*) and let back in only what the build needs" >&2
        return 1
    fi
}
# ---- end of container image ----------------------------------------------

# ---- Compose (compose.yaml, .env.example) --------------------------------
# compose.yaml must be refused, naming SYNCCHAIN_JWT_SECRET, with
# .env.example as it is (its required values are empty), and accepted with
# those values filled in, by docker-compose 1.x and, where installed,
# `docker compose`. compose.yaml and .env.example may name only real
# SYNCCHAIN_* settings, every variable compose.yaml interpolates is
# documented in .env.example, secrets come only from there, only the
# gateway publishes a port, and each syncchain service is given what its
# command needs (REQUIRED_SETTINGS). Compose runs with an empty environment
# so that variables exported in the shell cannot hide a missing one.

compose_tools() {
    if docker compose version >/dev/null 2>&1; then
        echo "docker compose"
    fi
    if command -v docker-compose >/dev/null 2>&1; then
        command -v docker-compose
        return
    fi
    # docker-compose 1.29 needs PyYAML<6, whose last release (5.4.1) does
    # not build under pip's build isolation (Cython 3); built without it,
    # and without Cython, it installs in pure Python.
    venv_tool "$COMPOSE_VENV" docker-compose wheel \
        "--no-build-isolation PyYAML==5.4.1" docker-compose
}

# Runs `compose --env-file ENV -f compose.yaml config` with nothing else in
# its environment.
compose_config() {
    local tool=$1 env_file=$2
    # shellcheck disable=SC2086 # "docker compose" is two words
    env -i PATH="$PATH" HOME="${HOME:-/root}" $tool --env-file "$env_file" -f compose.yaml config
}

check_compose() {
    local out var tool tools required
    out=$(mktemp -d)
    trap 'rm -rf "${out:-}"; trap - RETURN' RETURN

    echo "check-deploy: compose.yaml and .env.example name real settings only"
    check_settings_exist compose.yaml compose.yaml || return 1
    check_settings_exist .env.example .env.example || return 1
    for var in $(grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*' compose.yaml | cut -c3- | sort -u); do
        if ! grep -qE "^$var=" .env.example; then
            echo "check-deploy: compose.yaml uses \${$var}, which .env.example does not document" >&2
            return 1
        fi
    done

    # .env.example with every required value (${VAR:?...}) given a dummy.
    required=$(grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*:\?' compose.yaml | sed -E 's/^\$\{//; s/:\?$//' | sort -u)
    cp .env.example "$out/filled.env"
    for var in $required; do
        sed -i -E "s/^$var=.*/$var=check-deploy-dummy-0123456789abcdef0123456789abcdef/" "$out/filled.env"
    done

    tools=$(compose_tools) || return 1
    while IFS= read -r tool; do
        echo "check-deploy: $tool config, with .env.example as it is (must refuse)"
        if compose_config "$tool" .env.example >"$out/refused.yaml" 2>"$out/refused.log"; then
            echo "check-deploy: $tool accepts compose.yaml with .env.example's empty secrets; it must refuse" >&2
            return 1
        fi
        if ! grep -q 'SYNCCHAIN_JWT_SECRET' "$out/refused.log"; then
            cat "$out/refused.log" >&2
            echo "check-deploy: $tool refused .env.example without naming SYNCCHAIN_JWT_SECRET" >&2
            return 1
        fi
        echo "check-deploy: $tool config, with the required values filled in"
        if ! compose_config "$tool" "$out/filled.env" >"$out/rendered.yaml" 2>"$out/config.log"; then
            cat "$out/config.log" >&2
            return 1
        fi
        check_workloads compose "$out/rendered.yaml" compose.yaml || return 1
    done <<<"$tools"
}
# ---- end of Compose -------------------------------------------------------

# ---- Observability (deploy/observability) --------------------------------
# The alert rules and the dashboard may only name series the code exports
# (a family `x` is registered as "x" in crates/*/src and rendered as
# syncchain_x, with _total for counters, _seconds for durations and
# _bucket/_count/_sum for histograms), and the Prometheus Operator's copy of
# the rules must be the same rules.
check_observability() {
    local name family missing=0
    echo "check-deploy: alerts and dashboard name exported series only"
    for name in $(grep -ohE 'syncchain_[a-z_]+' deploy/observability/alerts.yml \
        deploy/observability/grafana/dashboards/*.json | sort -u); do
        family=${name#syncchain_}
        family=$(sed -E 's/_(bucket|count|sum)$//; s/_total$//; s/_seconds$//' <<<"$family")
        if ! grep -rqF "\"$family\"" crates/*/src; then
            echo "check-deploy: $name is in deploy/observability but no metric \"$family\" is registered in crates/*/src" >&2
            missing=1
        fi
    done
    [ "$missing" = 0 ] || return 1
    echo "check-deploy: the PrometheusRule holds the rules of alerts.yml"
    local python
    python=$(yaml_python) || return 1
    "$python" - <<'PY'
import sys, yaml
rules = yaml.safe_load(open("deploy/observability/alerts.yml"))["groups"]
operator = yaml.safe_load(open("deploy/k8s/components/monitoring/prometheusrule.yaml"))["spec"]["groups"]
if rules != operator:
    sys.exit("check-deploy: deploy/k8s/components/monitoring/prometheusrule.yaml differs from deploy/observability/alerts.yml")
PY
}
# ---- end of Observability ---------------------------------------------------

# ---- Kubernetes (deploy/k8s) -------------------------------------------
# Every overlay must build with `kubectl kustomize` and validate against the
# Kubernetes schemas (kubernetes-validate bundles them, so this works
# offline), every SYNCCHAIN_* variable the manifests set must be a real
# setting, and every syncchain container must be given what its command
# needs (REQUIRED_SETTINGS), from its env, ConfigMaps or Secrets.

# The Kubernetes version whose schemas the manifests are checked against.
K8S_SCHEMA_VERSION=1.30.0
# API groups of custom resources whose schemas kubernetes-validate lacks.
K8S_SKIPPED_CRDS='postgresql\.cnpg\.io/v1|monitoring\.coreos\.com/v1'

k8s_validator() {
    if command -v kubernetes-validate >/dev/null 2>&1; then
        command -v kubernetes-validate
        return
    fi
    venv_tool "$K8S_VENV" kubernetes-validate kubernetes-validate
}

check_k8s() {
    if ! command -v kubectl >/dev/null 2>&1; then
        echo "check-deploy: kubectl not found; skipping the Kubernetes manifest checks" >&2
        return 0
    fi
    local validator overlay out
    validator=$(k8s_validator) || return 1
    out=$(mktemp -d)
    trap 'rm -rf "${out:-}"; trap - RETURN' RETURN
    for overlay in deploy/k8s/overlays/*/; do
        overlay=${overlay%/}
        echo "check-deploy: kubectl kustomize $overlay"
        kubectl kustomize "$overlay" >"$out/rendered.yaml"
        # Custom resources have no bundled schema: kubernetes-validate warns
        # and passes them. Only the ones named in K8S_SKIPPED_CRDS may be
        # skipped that way (CloudNativePG's Cluster, whose operator checks
        # it); any other kind without a schema fails the check.
        echo "check-deploy: kubernetes-validate --strict -k $K8S_SCHEMA_VERSION ($overlay)"
        if ! "$validator" --quiet --strict --kubernetes-version "$K8S_SCHEMA_VERSION" \
            "$out/rendered.yaml" >"$out/validate.log" 2>&1; then
            cat "$out/validate.log" >&2
            return 1
        fi
        if grep "Couldn't find schema" "$out/validate.log" | grep -vqE "api version ($K8S_SKIPPED_CRDS) "; then
            cat "$out/validate.log" >&2
            echo "check-deploy: $overlay has a kind with no schema that is not an expected custom resource" >&2
            return 1
        fi
        grep -oE "kind [A-Za-z]+ with api version [^ ]+" "$out/validate.log" | sort | uniq -c |
            sed 's/^/check-deploy:   skipped (custom resource, no bundled schema):/' || true
        check_settings_exist "$out/rendered.yaml" "deploy/k8s ($overlay)" || return 1
        check_workloads k8s "$out/rendered.yaml" || return 1
    done
}
# ---- end of Kubernetes --------------------------------------------------

main() {
    check_required_settings_table
    check_dockerfile
    check_observability
    check_compose
    check_k8s
}

main "$@"
