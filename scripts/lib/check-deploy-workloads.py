"""Checks the syncchain containers of a deployment against what their
command needs (check-deploy.sh's REQUIRED_SETTINGS), and a compose file's
secrets and published ports.

    check-deploy-workloads.py compose RENDERED RAW   # `compose config` output, compose.yaml
    check-deploy-workloads.py k8s RENDERED           # `kubectl kustomize` output

The table of required settings comes in the REQUIRED_SETTINGS environment
variable, one `command: VAR VAR|ALTERNATIVE ...` per line. A container is a
syncchain one when its image is named `syncchain` (any registry or tag); its
command is the image's arguments (`serve users`, `migrate all`). Prints
one line per problem and exits 1 if there is any.
"""

import os
import re
import sys

import yaml


def required_settings(text):
    table = {}
    for line in text.strip().splitlines():
        command, _, needs = line.partition(":")
        table[tuple(command.split())] = [group.split("|") for group in needs.split()]
    return table


def is_syncchain(image):
    name = (image or "").rsplit("/", 1)[-1].split("@")[0].split(":")[0]
    return name == "syncchain"


def loopback(port):
    """Whether a rendered compose port is published on 127.0.0.1 only."""
    if isinstance(port, dict):
        return port.get("host_ip") == "127.0.0.1"
    return str(port).startswith("127.0.0.1:")


def compose_workloads(rendered, problems):
    services = (rendered or {}).get("services") or {}
    workloads = []
    for name, service in services.items():
        command = service.get("command") or []
        if isinstance(command, str):
            command = command.split()
        # The gateway publishes its port; the optional observability tools
        # may publish theirs on the host's loopback only.
        loopback_tool = "observability" in (service.get("profiles") or []) and all(
            loopback(port) for port in service.get("ports") or []
        )
        if service.get("ports") and command[:2] != ["serve", "gateway"] and not loopback_tool:
            problems.append(
                f"compose service {name} publishes ports: only the gateway may"
                " (and observability tools, on 127.0.0.1)"
            )
        if not is_syncchain(service.get("image")):
            continue
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
        names = {key for key, value in env.items() if value not in (None, "")}
        workloads.append((f"compose service {name}", command, names))
    return workloads


def compose_secrets(raw, problems):
    """Secrets and passwords come from the environment (.env), never literals."""
    for name, service in ((raw or {}).get("services") or {}).items():
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
        for key, value in env.items():
            if re.search(r"SECRET|PASSWORD", key) and value and "${" not in str(value):
                problems.append(
                    f"compose service {name} sets {key} to a literal: take it from .env (${{{key}:?...}})"
                )


def pod_spec(doc):
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return (spec.get("template") or {}).get("spec")
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    if kind == "Pod":
        return spec
    return None


def k8s_workloads(docs, problems):
    keys = {}
    for doc in docs:
        if doc.get("kind") in ("ConfigMap", "Secret"):
            found = set((doc.get("data") or {}).keys()) | set((doc.get("stringData") or {}).keys())
            keys[(doc["kind"], doc["metadata"]["name"])] = found
    workloads = []
    for doc in docs:
        spec = pod_spec(doc)
        if not spec:
            continue
        owner = f"{doc['kind']} {doc['metadata']['name']}"
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            if not is_syncchain(container.get("image")):
                continue
            where = f"{owner} (container {container['name']})"
            names = set()
            for var in container.get("env") or []:
                source = var.get("valueFrom") or {}
                ref = source.get("secretKeyRef") or source.get("configMapKeyRef")
                if ref:
                    kind = "Secret" if "secretKeyRef" in source else "ConfigMap"
                    known = keys.get((kind, ref.get("name")))
                    if known is not None and ref.get("key") not in known and not ref.get("optional"):
                        problems.append(
                            f"{where}: {var['name']} refers to key {ref.get('key')} that {kind} {ref.get('name')} lacks"
                        )
                        continue
                    names.add(var["name"])
                elif var.get("value") not in (None, ""):
                    names.add(var["name"])
            for source in container.get("envFrom") or []:
                kind = "Secret" if "secretRef" in source else "ConfigMap"
                ref = source.get("secretRef") or source.get("configMapRef") or {}
                known = keys.get((kind, ref.get("name")))
                if known is None:
                    if not ref.get("optional"):
                        problems.append(f"{where}: envFrom names {kind} {ref.get('name')}, which is not rendered")
                    continue
                names |= {source.get("prefix", "") + key for key in known}
            workloads.append((where, list(container.get("args") or []), names))
    return workloads


def main():
    mode, rendered_path = sys.argv[1], sys.argv[2]
    table = required_settings(os.environ["REQUIRED_SETTINGS"])
    problems = []
    with open(rendered_path) as f:
        if mode == "compose":
            workloads = compose_workloads(yaml.safe_load(f), problems)
            with open(sys.argv[3]) as raw:
                compose_secrets(yaml.safe_load(raw), problems)
        else:
            workloads = k8s_workloads([d for d in yaml.safe_load_all(f) if d], problems)
    if not workloads:
        problems.append("no syncchain container found (an image named syncchain)")
    for where, args, names in workloads:
        command = tuple(args[:2])
        needs = table.get(command)
        if needs is None:
            problems.append(
                f"{where} runs `syncchain {' '.join(args)}`, which REQUIRED_SETTINGS in check-deploy.sh does not list"
            )
            continue
        for group in needs:
            if not names & set(group):
                problems.append(f"{where} (syncchain {' '.join(command)}) must set {' or '.join(group)}")
    for problem in problems:
        print(f"check-deploy: {problem}", file=sys.stderr)
    if not problems:
        print(f"check-deploy:   {len(workloads)} syncchain containers set what their command needs")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
