#!/usr/bin/env bash
# Checks the container and deployment files as far as a machine without a
# Docker engine or a cluster allows: the binaries build with the
# Dockerfile's flags (static, no cgo), every YAML file parses and every
# Kubernetes object names its apiVersion, kind and metadata.name, and the
# Grafana dashboard is valid JSON.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
echo "+ CGO_ENABLED=0 go build -trimpath -ldflags=-s -w ./cmd/worker ./cmd/consumer ./cmd/mockprovider" >&2
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$out/" ./cmd/worker ./cmd/consumer ./cmd/mockprovider
for b in worker consumer mockprovider; do
	if command -v file >/dev/null && ! file "$out/$b" | grep -q "statically linked"; then
		echo "check-deploy: $b is not statically linked" >&2
		exit 1
	fi
done

if ! python3 -c 'import yaml' 2>/dev/null; then
	echo "check-deploy: python3 with PyYAML is needed to parse the YAML (apt-get install python3-yaml)" >&2
	exit 1
fi
python3 - <<'PY'
import glob, json, sys, yaml
bad = 0
for f in sorted(glob.glob("deploy/**/*.yaml", recursive=True)) + ["docker-compose.yml"]:
    for doc in yaml.safe_load_all(open(f)):
        if doc is None:
            continue
        if f.startswith("deploy/kubernetes/") and not f.endswith("kustomization.yaml"):
            missing = [k for k in ("apiVersion", "kind") if k not in doc]
            if missing or not doc.get("metadata", {}).get("name"):
                print(f"{f}: object without {missing or 'metadata.name'}", file=sys.stderr)
                bad += 1
    print(f"ok {f}", file=sys.stderr)
for f in glob.glob("deploy/grafana/*.json"):
    json.load(open(f))
    print(f"ok {f}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
echo "check-deploy: ok" >&2
