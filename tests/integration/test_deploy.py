"""Deployment artefacts: the Kubernetes manifests parse, their container arguments are flags the
binary accepts, and the binary starts with exactly the configuration and policy they mount.
(No container engine runs here, so the Dockerfile is checked against the tree, not built.)"""
import re
import subprocess
import time
from pathlib import Path

import yaml

import harness

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"


def manifests(name):
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def config_maps(docs):
    return {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}


def tenantwall_containers(docs):
    for d in docs:
        if d["kind"] == "Deployment":
            for c in d["spec"]["template"]["spec"]["containers"]:
                if c["name"] == "tenantwall":
                    yield d, c


def mount_like_kubelet(tmp_path, deployment, container, maps):
    """Writes the ConfigMap files where the pod would see them, under tmp_path."""
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    for mount in container["volumeMounts"]:
        cm = maps[volumes[mount["name"]]["configMap"]["name"]]
        target = tmp_path / mount["mountPath"].lstrip("/")
        if "subPath" in mount:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(cm[mount["subPath"]])
        else:
            target.mkdir(parents=True, exist_ok=True)
            for key, text in cm.items():
                (target / key).write_text(text)


def rooted(tmp_path, text):
    return re.sub(r"(/etc/tenantwall/\S*)", lambda m: str(tmp_path) + m.group(1), text)


def test_every_manifest_parses_and_names_its_kinds():
    sidecar = manifests("sidecar.yaml")
    gateway = manifests("gateway.yaml")
    assert {d["kind"] for d in sidecar} == {"ConfigMap", "Secret", "Deployment"}
    assert {d["kind"] for d in gateway} == {"ConfigMap", "Deployment", "Service"}
    for _, c in list(tenantwall_containers(sidecar)) + list(tenantwall_containers(gateway)):
        assert c["readinessProbe"] and c["livenessProbe"], c["name"]
        assert c["resources"]["limits"]["memory"], c["name"]
        assert c["securityContext"]["runAsUser"] != 0


def test_container_arguments_are_flags_the_binary_accepts():
    help_text = subprocess.run([str(harness.proxy_binary()), "--help"], capture_output=True,
                               text=True, check=True).stdout
    for name in ("sidecar.yaml", "gateway.yaml"):
        for _, c in tenantwall_containers(manifests(name)):
            for arg in c["args"]:
                if arg.startswith("-"):
                    assert arg in help_text, f"{name}: {arg} is not a tenantwall flag"
            env = {e["name"] for e in c.get("env", [])}
            assert "TENANTWALL_BACKEND_PASSWORD" in env
            assert "TENANTWALL_BACKEND_PASSWORD" in help_text


def test_dockerfile_matches_the_tree_and_the_binary():
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for path in src.split():
            if path != ".":
                assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
    assert "ninja -C build tenantwall" in text
    assert '"/usr/local/bin/tenantwall"' in text and "build/proxy/tenantwall" in text
    assert re.search(r'^USER (?!root|0\b)\S+', text, re.M), "the container must not run as root"
    assert 'CMD ["--config", "/etc/tenantwall/tenantwall.yaml"]' in text


def test_binary_starts_with_the_exact_mounted_sidecar_and_gateway_config(tmp_path):
    for name in ("sidecar.yaml", "gateway.yaml"):
        docs = manifests(name) + (manifests("sidecar.yaml") if name == "gateway.yaml" else [])
        maps = config_maps(docs)
        deployment, container = next(tenantwall_containers(manifests(name)))
        root = tmp_path / name
        mount_like_kubelet(root, deployment, container, maps)
        config = root / "etc/tenantwall/tenantwall.yaml"
        # Only the mount root changes; a free port keeps parallel runs apart.
        text = rooted(root, config.read_text())
        text = re.sub(r"port: 6432", f"port: {harness.free_port()}", text)
        text = text.replace("0.0.0.0", "127.0.0.1")
        config.write_text(text)
        policy = root / "etc/tenantwall/policy/policy.yaml"
        check = subprocess.run([str(harness.proxy_binary()), "check-policy", str(policy)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        args = [str(harness.proxy_binary())] + [rooted(root, a) for a in container["args"]]
        proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True,
                                env={"TENANTWALL_BACKEND_PASSWORD": "from-secret"})
        try:
            deadline = time.time() + 10
            line = ""
            while time.time() < deadline and "listening on" not in line:
                line = proc.stderr.readline()
                if not line and proc.poll() is not None:
                    break
            assert "listening on" in line, f"{name}: tenantwall did not start: {line}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
