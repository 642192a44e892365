"""The deploy/ files are valid for the tools that read them, and consistent with each other.

Compose: Debian's ``docker-compose config`` validates the file against the Compose
specification's JSON schema (and a deliberately broken copy must fail, so the check is real).
Prometheus: ``promtool`` checks the config and rules and runs the rules' unit tests. Grafana: the
dashboard is what its generator writes, and every panel names the provisioned data source.
Kubernetes: the manifests parse, carry the fields that matter and refer to each other correctly
(selectors match labels, names match, ports match).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy._files import (
    COMPOSE,
    DASHBOARD,
    DATASOURCES,
    DEPLOY,
    K8S,
    PROMETHEUS_CONFIG,
    RULES,
    dashboard_panels,
    load_yaml,
    load_yaml_documents,
)

HERE = Path(__file__).resolve().parent
STATE_DIR = "/var/lib/cove-async"
DAEMON_PORT = 8321
TOKEN_SECRET = "cove_daemon_token"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: `apt-get install -y {package}` (.ci/run installs it)")
    return path


def _compose(*args: str, file: Path = COMPOSE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("docker-compose", "docker-compose"), "-f", str(file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- compose ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as docker-compose resolves it (merge keys applied, paths absolute)."""
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = yaml.safe_load(result.stdout)
    return resolved


def test_compose_validates_and_a_broken_copy_does_not(tmp_path: Path) -> None:
    valid = _compose("config", "-q")
    assert valid.returncode == 0, valid.stderr
    text = COMPOSE.read_text()
    for broken, complaint in (
        (
            text.replace("    stop_grace_period: 30s\n", "    stop_grace_period: 30s\n    stop_grace: 30s\n"),
            "stop_grace",
        ),
        (text.replace("capabilities: [gpu]", "capabilities: gpu"), "capabilities"),
    ):
        assert broken != text
        path = tmp_path / "docker-compose.yml"
        path.write_text(broken)
        result = _compose("config", "-q", file=path)
        assert result.returncode != 0 and complaint in result.stderr, result.stderr


def test_compose_hands_one_token_file_to_the_daemon_and_to_prometheus(compose: dict[str, Any]) -> None:
    secret = compose["secrets"][TOKEN_SECRET]
    assert Path(secret["file"]) == DEPLOY / "secrets" / "cove-daemon-token"
    ignored = (DEPLOY / "secrets" / ".gitignore").read_text().splitlines()
    assert "*" in ignored  # the token never lands in git
    mounted = f"/run/secrets/{TOKEN_SECRET}"
    cove = compose["services"]["cove"]
    assert {"source": TOKEN_SECRET} in cove["secrets"]
    assert cove["environment"]["COVE_DAEMON_TOKEN_FILE"] == mounted
    # The entrypoint exports the file's content as the variable the daemon reads, then runs it.
    shell = cove["entrypoint"][2].replace("$$", "$")
    assert shell == 'COVE_DAEMON_TOKEN="$(cat "$COVE_DAEMON_TOKEN_FILE")" exec cove-async serve "$@"'
    assert {"source": TOKEN_SECRET} in compose["services"]["prometheus"]["secrets"]
    (job,) = [j for j in load_yaml(PROMETHEUS_CONFIG)["scrape_configs"] if j["job_name"] == "cove-async"]
    assert job["authorization"] == {"type": "Bearer", "credentials_file": mounted}


def test_compose_stack_shape(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"cove", "vllm", "mockllm", "prometheus", "grafana"}
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("/"):  # a bind mount: it must exist in the repository
                assert Path(source).exists(), f"{name} mounts missing {source}"

    cove = services["cove"]
    assert cove["build"]["dockerfile"] == "deploy/Dockerfile"
    assert f"cove-state:{STATE_DIR}:rw" in cove["volumes"]
    assert cove["command"][cove["command"].index("--port") + 1] == str(DAEMON_PORT)

    vllm = services["vllm"]
    (device,) = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    assert "--enable-auto-tool-choice" in vllm["command"]
    assert vllm["command"][vllm["command"].index("--tool-call-parser") + 1]
    assert vllm["command"][vllm["command"].index("--port") + 1] == "8000"
    assert services["mockllm"]["profiles"] == ["sim"]

    grafana_mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in services["grafana"]["volumes"]}
    assert Path(grafana_mounts["/etc/grafana/provisioning"]) == DEPLOY / "grafana" / "provisioning"
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "cove-async.yml")["providers"][0]
    dashboards_dir = provider["options"]["path"]
    assert Path(grafana_mounts[dashboards_dir]) == DASHBOARD.parent  # the provider reads the mounted folder
    prometheus_mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in services["prometheus"]["volumes"]}
    assert Path(prometheus_mounts["/etc/prometheus"]) == PROMETHEUS_CONFIG.parent


# -- Prometheus ------------------------------------------------------------------------------


def test_promtool_accepts_the_config_and_rules() -> None:
    promtool = _tool("promtool", "prometheus")
    # --syntax-only: the token file the config names exists only inside the container.
    for args in (["check", "config", "--syntax-only", str(PROMETHEUS_CONFIG)], ["check", "rules", str(RULES)]):
        result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_recording_rules_compute_what_their_names_say() -> None:
    promtool = _tool("promtool", "prometheus")
    result = subprocess.run(
        [promtool, "test", "rules", "rules_test.yml"], cwd=HERE, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


def test_prometheus_scrapes_the_compose_services(compose: dict[str, Any]) -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets["cove-async"] == [f"cove:{DAEMON_PORT}"]
    assert targets["vllm"] == ["vllm:8000"]
    assert targets["mockllm"] == ["mockllm:8000"]
    for job, hosts in targets.items():
        for host in hosts:
            service = host.split(":")[0]
            assert service == "localhost" or service in compose["services"], (job, host)
    assert config["rule_files"] == ["rules.yml"]


# -- Grafana ---------------------------------------------------------------------------------


def test_dashboard_is_what_its_generator_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "grafana" / "dashboard.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_panel_uses_the_provisioned_data_source() -> None:
    (source,) = load_yaml(DATASOURCES)["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    board = json.loads(DASHBOARD.read_text())
    refs = [v["datasource"] for v in board["templating"]["list"]]
    for panel in dashboard_panels(board):
        if panel["type"] == "row":
            continue
        refs.append(panel["datasource"])
        refs.extend(target["datasource"] for target in panel["targets"])
        assert panel["targets"], panel["title"]
    assert refs and all(ref == {"type": "prometheus", "uid": source["uid"]} for ref in refs)


def test_dashboard_has_the_rows_and_a_sound_layout() -> None:
    board = json.loads(DASHBOARD.read_text())
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == [
        "Throughput and outcomes",
        "Saturation and admission",
        "Time split per phase",
        "Runtime health",
        "Inference servers",
    ]
    panels = list(dashboard_panels(board))
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
    phases = next(p for p in panels if p["title"] == "Seconds per second, by phase")
    assert [t["legendFormat"] for t in phases["targets"]] == ["agent LLM", "user LLM", "tools and engine", "verifier"]
    kv = next(p for p in panels if p["title"] == "KV-cache use")
    assert re.search(r"vllm:kv_cache_usage_perc.*\bor\b.*vllm:gpu_cache_usage_perc", kv["targets"][0]["expr"])


# -- image -----------------------------------------------------------------------------------


def _final_stage(dockerfile: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    instructions = [
        tuple(line.strip().split(None, 1)) for line in joined.splitlines() if line.strip() and not line.startswith("#")
    ]
    last_from = max(i for i, ins in enumerate(instructions) if ins[0] == "FROM")
    return [(ins[0], ins[1] if len(ins) > 1 else "") for ins in instructions[last_from:]]


def test_image_runs_the_daemon_unprivileged_with_a_healthcheck() -> None:
    stage = dict(_final_stage((DEPLOY / "Dockerfile").read_text()))
    assert stage["FROM"].endswith("-slim")
    user = stage["USER"].split(":")[0]
    assert user.isdigit() and int(user) > 0  # numeric, so runAsNonRoot can verify it
    assert json.loads(stage["ENTRYPOINT"]) == ["cove-async", "serve"]
    command = json.loads(stage["CMD"])
    assert command[command.index("--port") + 1] == stage["EXPOSE"] == str(DAEMON_PORT)
    assert command[command.index("--state-dir") + 1] == STATE_DIR
    assert stage["HEALTHCHECK"].endswith('CMD ["cove-async-healthcheck", "/healthz"]')
    probe = next(v for k, v in _final_stage((DEPLOY / "Dockerfile").read_text()) if k == "COPY" and "healthcheck" in v)
    assert probe.split()[-2:] == ["deploy/healthcheck.py", "/usr/local/bin/cove-async-healthcheck"]
    assert "!deploy/healthcheck.py" in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()


# -- Kubernetes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict[str, Any]]:
    """Every object the kustomization lists, by kind (one of each kind)."""
    kustomization = load_yaml(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk, f"kustomization.yaml lists {sorted(listed)}, the folder holds {sorted(on_disk)}"
    objects: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for document in load_yaml_documents(K8S / name):
            assert {"apiVersion", "kind", "metadata"} <= document.keys(), name
            assert document["metadata"]["name"], name
            assert document["kind"] not in objects, f"two {document['kind']} objects"
            objects[document["kind"]] = document
    return objects


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def test_deployment_runs_one_unprivileged_daemon_with_probes_and_resources(k8s: dict[str, dict[str, Any]]) -> None:
    deployment = k8s["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"  # one writer of the store
    pod = spec["template"]
    assert _matches(spec["selector"]["matchLabels"], pod["metadata"]["labels"])
    security = pod["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["cove-async"]
    args = container["args"]
    assert args[args.index("serve") + 1 :][:2] == ["--host", "0.0.0.0"]
    assert args[args.index("--port") + 1] == str(DAEMON_PORT)
    assert args[args.index("--state-dir") + 1] == STATE_DIR
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port == {"http": DAEMON_PORT}
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["exec"]["command"] == ["cove-async-healthcheck", path], probe
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= container["resources"][kind].keys()
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert mounts["state"] == STATE_DIR
    assert volumes["state"]["persistentVolumeClaim"]["claimName"] == k8s["PersistentVolumeClaim"]["metadata"]["name"]
    env = {e["name"]: e for e in container["env"]}
    assert env["COVE_DAEMON_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "cove-daemon-token", "key": "token"}
    (source,) = container["envFrom"]
    config = k8s["ConfigMap"]
    assert source["configMapRef"]["name"] == config["metadata"]["name"]
    for match in re.finditer(r"\$\((\w+)\)", " ".join(args)):  # $(VAR) in args must be defined
        assert match.group(1) in config["data"] or match.group(1) in env, match.group(1)


def test_service_and_service_monitor_reach_the_pods(k8s: dict[str, dict[str, Any]]) -> None:
    pod_labels = k8s["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = k8s["Service"]
    assert _matches(service["spec"]["selector"], pod_labels)
    (port,) = service["spec"]["ports"]
    assert port["name"] == "http" and port["targetPort"] == "http" and port["port"] == DAEMON_PORT
    monitor = k8s["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert _matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == port["name"] and endpoint["path"] == "/metrics"
    secret = k8s["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]
    assert endpoint["authorization"] == {"type": "Bearer", "credentials": secret}


def test_prometheus_rule_holds_the_rules_file(k8s: dict[str, dict[str, Any]]) -> None:
    rule = k8s["PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"] == load_yaml(RULES), "deploy/k8s/prometheusrule.yaml is stale: regenerate it (see its header)"
