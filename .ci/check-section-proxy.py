"""What deploy/section/section-proxy.schema.json cannot say about .section-proxy.yaml,
and proof that the schema checks something.

1. Cross references: the containers metadata names exist in spec.containers, the
   volumeMounts name spec.volumes; agreement with the image: the config mount is where
   edgechain reads, the metrics port is EXPOSEd, name and image carry the workspace
   version.
2. Broken variants of the file, each of which the schema must refuse.

Usage (from .ci/lint, in its venv): python .ci/check-section-proxy.py SCHEMA FILE
"""

import copy
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

schema, path = sys.argv[1], sys.argv[2]
check_jsonschema = str(Path(sys.executable).with_name("check-jsonschema"))
doc = yaml.safe_load(open(path))
meta, spec = doc["metadata"], doc["spec"]
problems = []

containers = {c["name"]: c for c in spec["containers"]}
volumes = {v["name"] for v in spec.get("volumes", [])}
refs = [meta["httpContainer"], meta["logs"]["http"]["container"]]
refs += [a["container"] for a in meta["logs"].get("additional", [])]
refs += [meta["memoryContainer"]] if "memoryContainer" in meta else []
problems += [f"container {r!r} is not in spec.containers" for r in refs if r not in containers]
for c in containers.values():
    problems += [
        f"volumeMount {m['name']!r} of container {c['name']!r} is not in spec.volumes"
        for m in c.get("volumeMounts", [])
        if m["name"] not in volumes
    ]

dockerfile = open("Dockerfile").read()
if meta["configurationMountPath"] != "/opt/proxy_config":
    problems.append("configurationMountPath is not /opt/proxy_config, where edgechain reads")
if "metrics" in meta and not re.search(rf"^EXPOSE .*\b{meta['metrics']['port']}\b", dockerfile, re.M):
    problems.append(f"metrics port {meta['metrics']['port']} is not EXPOSEd by the Dockerfile")
version = re.search(r'^version = "([^"]+)"', open("Cargo.toml").read(), re.M).group(1)
for key in ("name", "image"):
    if not meta[key].endswith(f":{version}"):
        problems.append(f"metadata.{key} {meta[key]!r} does not carry the workspace version {version}")


def refused(label, mutate):
    broken = copy.deepcopy(doc)
    mutate(broken)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(broken, f)
        f.flush()
        run = subprocess.run([check_jsonschema, "--schemafile", schema, f.name], capture_output=True)
    if run.returncode == 0:
        problems.append(f"the schema accepts {label}")


refused("a missing httpContainer", lambda d: d["metadata"].pop("httpContainer"))
refused("a missing logs.handler", lambda d: d["metadata"]["logs"].pop("handler"))
refused("a log stream other than stdout/stderr", lambda d: d["metadata"]["logs"]["http"].update(stream="file"))
refused("an additional log without a name", lambda d: d["metadata"]["logs"]["additional"][0].pop("name"))
refused("a metrics port that is not a port", lambda d: d["metadata"]["metrics"].update(port=70000))
refused("resource limits without cpu", lambda d: d["spec"]["containers"][0]["resources"]["limits"].pop("cpu"))
refused("a container without resources", lambda d: d["spec"]["containers"][0].pop("resources"))
refused("a PodSpec member the platform refuses", lambda d: d["spec"].update(serviceAccountName="x"))
refused("a volume that is not a bare emptyDir", lambda d: d["spec"]["volumes"][0].update(hostPath={"path": "/"}))
refused("env taken from elsewhere", lambda d: d["spec"]["containers"][0].update(env=[{"name": "A", "valueFrom": {}}]))
refused("an image without a tag", lambda d: d["metadata"].update(image="edgechain"))
refused("fields outside metadata, spec and hpa", lambda d: d.update(ports={"http": 80}))
refused(
    "two containers without a memoryContainer",
    lambda d: d["spec"]["containers"].append(copy.deepcopy(d["spec"]["containers"][0]) | {"name": "sidecar"}),
)

for p in problems:
    print(f"{path}: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
