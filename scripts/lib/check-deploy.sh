#!/usr/bin/env bash
# Checks the deployment files without a cluster or a container engine.
# Each section is its own function; main runs them in turn.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

# ---- Kubernetes (deploy/k8s) -------------------------------------------
# Every overlay must build with `kubectl kustomize` and validate against the
# Kubernetes schemas (kubernetes-validate bundles them, so this works
# offline), and every SYNCCHAIN_* variable the manifests set must be a real
# setting: one the code names as a string literal.

# The Kubernetes version whose schemas the manifests are checked against.
K8S_SCHEMA_VERSION=1.30.0
# API groups of custom resources whose schemas kubernetes-validate lacks.
K8S_SKIPPED_CRDS='postgresql\.cnpg\.io/v1'
K8S_VENV=${SYNCCHAIN_CHECK_VENV:-${CARGO_TARGET_DIR:-target}/check-deploy-venv}

k8s_validator() {
    if command -v kubernetes-validate >/dev/null 2>&1; then
        command -v kubernetes-validate
        return
    fi
    if [ ! -x "$K8S_VENV/bin/kubernetes-validate" ]; then
        echo "check-deploy: installing kubernetes-validate into $K8S_VENV" >&2
        python3 -m venv "$K8S_VENV" >&2
        "$K8S_VENV/bin/pip" install -q kubernetes-validate >&2
    fi
    echo "$K8S_VENV/bin/kubernetes-validate"
}

check_k8s_settings() {
    local rendered=$1 var missing=0
    for var in $(grep -oE 'SYNCCHAIN_[A-Z0-9_]+' "$rendered" | sort -u); do
        if ! grep -rqF "\"$var\"" crates/*/src; then
            echo "check-deploy: $var is set in deploy/k8s but is no syncchain setting (no \"$var\" in crates/*/src)" >&2
            missing=1
        fi
    done
    return $missing
}

check_k8s() {
    if ! command -v kubectl >/dev/null 2>&1; then
        echo "check-deploy: kubectl not found; skipping the Kubernetes manifest checks" >&2
        return 0
    fi
    local validator overlay out
    validator=$(k8s_validator)
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
        check_k8s_settings "$out/rendered.yaml" || return 1
    done
}
# ---- end of Kubernetes --------------------------------------------------

main() {
    check_k8s
}

main "$@"
