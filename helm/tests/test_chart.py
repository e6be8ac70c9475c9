#!/usr/bin/env python3
"""Offline tests of the Helm chart helm/endocarp (there is no helm CLI and no cluster here).

helm-python-sdk (the Helm v4 Go SDK through ctypes) lints and renders the chart,
kubernetes-validate checks the rendered core objects against the Kubernetes OpenAPI schemas
(strict: unknown fields are errors), yamllint checks the values files, and the assertions
below check what matters for running Endocarp: probes on the ops port, the admin port
closed to all but the configured peers, the migration hook and its Secret, SQLite's single
replica, the refusals, the security context, the rendered TOML, the alerts, the README's
values table and the Dockerfile.

Run through scripts/chart-test (it sets up the virtualenv). Exit status 1 on any failure.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
import traceback
from pathlib import Path

import helm_python as helm
import yaml
from kubernetes_validate import utils as kv_utils
from yamllint import linter as yamllint_linter
from yamllint.config import YamlLintConfig

sys.dont_write_bytecode = True  # no __pycache__ beside the tests
sys.path.insert(0, str(Path(__file__).resolve().parent))
import values_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "endocarp"
VALUES_DIR = ROOT / "helm" / "tests" / "values"
RELEASE = "rel"
NAMESPACE = "authz"
FULLNAME = f"{RELEASE}-endocarp"
MIN_KUBE = "1.27.0"
NEWEST_KUBE = kv_utils.latest_version()
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
GRPC_PORTS = {50051, 50052, "grpc", "grpc-admin"}
OPS_PORTS = {9090, "http-ops"}

# The server's settings (TOML keys), as the binary defines them.
SETTINGS = {
    "database_url", "listen", "admin_listen", "ops_listen", "admin_tokens_file", "admin_tokens",
    "decision_auth", "max_in_flight", "admin_writes_per_second", "request_timeout", "tls_cert",
    "tls_key", "tls_client_ca", "admin_client_certs_file", "engine", "migrate",
    "action_hierarchy", "require_membership", "max_closure", "max_staleness", "max_wait",
    "poll_interval", "log_format", "otlp_endpoint", "tcp_keepalive", "http2_keepalive_interval",
    "http2_keepalive_timeout", "max_concurrent_streams", "write_batch", "sqlite_max_size", "ready_file",
    "max_batch_checks", "lookup_page_ttl", "lookup_token_secret", "authzen_listen",
    "authzen_public_url", "authzen_action_namespace", "repack_after_writes",
}
# The metrics the binary exports (histograms also as _bucket, _sum, _count).
COUNTERS_AND_GAUGES = {
    "endocarp_decisions_total", "endocarp_grpc_requests_total", "endocarp_events_appended_total",
    "endocarp_applied_revision", "endocarp_log_head_revision", "endocarp_replica_lag_events",
    "endocarp_replica_lag_seconds", "endocarp_data_age_seconds", "endocarp_stale",
    "endocarp_max_staleness_seconds", "endocarp_index_rules", "endocarp_index_assignments",
    "endocarp_index_roles", "endocarp_index_role_summaries_current", "endocarp_lookup_snapshots_kept", "endocarp_index_written_since_build", "endocarp_index_repacks_total", "endocarp_shadow_agreements_total",
    "endocarp_shadow_disagreements_total", "endocarp_storage_errors_total",
    "endocarp_ignored_events_total", "endocarp_http_requests_total",
}
HISTOGRAMS = {"endocarp_decision_duration_seconds", "endocarp_grpc_request_duration_seconds",
              "endocarp_http_request_duration_seconds"}
METRICS = COUNTERS_AND_GAUGES | {f"{h}{s}" for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}

# ---------------------------------------------------------------------------- runner

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def run() -> int:
    passed = failed = 0
    for fn in TESTS:
        name = fn.__name__
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - report every failure, then go on
            failed += 1
            print(f"FAIL {name}: {exc}")
            if not isinstance(exc, AssertionError):
                traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {name}")
    print()
    print(f"chart: {passed} passed, {failed} failed")
    return 1 if failed else 0


# ---------------------------------------------------------------------------- helpers


def load_values(name: str | None) -> dict:
    if name is None:
        return {}
    return yaml.safe_load((VALUES_DIR / name).read_text()) or {}


def deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def render_raw(values: dict | None) -> dict[str, str]:
    with helm.Chart.load(CHART) as chart:
        return chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)


def render(values: dict | None) -> list[dict]:
    """The rendered objects (NOTES.txt left out), each checked to be a whole document."""
    objects = []
    for path, text in sorted(render_raw(values).items()):
        if path.endswith("NOTES.txt") or not text.strip():
            continue
        for doc in yaml.safe_load_all(text):
            assert doc is not None, f"{path} renders an empty YAML document"
            assert isinstance(doc, dict), f"{path} renders a non-mapping document"
            for field in ("apiVersion", "kind"):
                assert doc.get(field), f"{path}: a document without {field}"
            assert doc.get("metadata", {}).get("name"), f"{path}: a {doc['kind']} without a name"
            objects.append(doc)
    return objects


def render_fails(values: dict, *needles: str) -> str:
    try:
        render_raw(values)
    except helm.HelmError as exc:
        message = str(exc)
        for needle in needles:
            assert needle in message, f"render failed, but the message lacks {needle!r}: {message}"
        return message
    raise AssertionError(f"render should have failed ({needles}) with values {values}")


def of_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    found = [o for o in of_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(objects: list[dict]) -> dict:
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def toml_config(objects: list[dict]) -> dict:
    cm = one(objects, "ConfigMap", FULLNAME)
    return tomllib.loads(cm["data"]["endocarp.toml"])


# Every scenario: values file (None = the chart's defaults).
SCENARIOS = {
    "default": None,
    "postgres": "postgres.yaml",
    "postgres-inline": "postgres-inline.yaml",
    "minimal": "minimal.yaml",
    "sqlite": "sqlite.yaml",
}


def scenario(name: str) -> list[dict]:
    return render(load_values(SCENARIOS[name]))


# ---------------------------------------------------------------------------- lint


@test
def yamllint_values_files():
    config = YamlLintConfig(
        "extends: default\n"
        "rules:\n"
        "  line-length: {max: 140}\n"
        "  document-start: disable\n"
        "  comments: {min-spaces-from-content: 1}\n"
    )
    files = [CHART / "values.yaml", CHART / "Chart.yaml", *sorted(VALUES_DIR.glob("*.yaml"))]
    problems = []
    for path in files:
        for problem in yamllint_linter.run(path.read_text(), config, str(path)):
            problems.append(f"{path.relative_to(ROOT)}:{problem.line}:{problem.column} {problem.message} ({problem.rule})")
    assert not problems, "yamllint:\n  " + "\n  ".join(problems)


@test
def helm_lint_strict_every_values_file():
    for kube in (MIN_KUBE, NEWEST_KUBE):
        for name, file in SCENARIOS.items():
            report = helm.lint(str(CHART), load_values(file), strict=True, namespace=NAMESPACE, kube_version=f"v{kube}")
            bad = [m for m in report["messages"] if m["severity"] >= 2]
            assert not report["errors"] and not bad, f"helm lint --strict ({name}, k8s {kube}): {report}"


@test
def schema_rejects_unknown_keys_and_bad_enums():
    bad_values = [
        {"replicas": 3},  # unknown top-level key (replicaCount is meant)
        {"database": {"type": "mysql"}},
        {"config": {"engine": "rego"}},
        {"config": {"logFormat": "xml"}},
        {"config": {"maxStaleness": "5 seconds"}},
        {"image": {"pullPolicy": "Sometimes"}},
        {"replicaCount": "two"},
        {"config": {"unknownSetting": True}},
    ]
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(chart.merge_values({}))
        for values in bad_values:
            try:
                chart.validate_schema(chart.merge_values(values))
            except helm.HelmValuesError:
                pass
            else:
                raise AssertionError(f"values.schema.json accepted {values}")
            try:
                render_raw(values)
            except helm.HelmError:
                pass
            else:
                raise AssertionError(f"rendering accepted {values} (schema not applied)")


@test
def schema_covers_every_value():
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    missing = []
    for path in values_table.leaves(values):
        node = schema
        for part in path.split("."):
            props = node.get("properties", {})
            if part not in props:
                if node.get("type") == "object" and "properties" not in node:
                    break  # a free-form object (e.g. a security context)
                missing.append(path)
                break
            node = props[part]
    assert not missing, f"values.schema.json lacks {missing}"


# ---------------------------------------------------------------------------- kubernetes schemas


@test
def rendered_objects_validate_against_kubernetes_schemas():
    with tempfile.TemporaryDirectory() as tmp:
        for name in SCENARIOS:
            objects = [o for o in scenario(name) if o["kind"] not in CRD_KINDS]
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
            for kube in (MIN_KUBE, NEWEST_KUBE):
                result = subprocess.run(
                    [str(Path(sys.executable).parent / "kubernetes-validate"), "--strict", "--quiet", "-k", kube, str(path)],
                    capture_output=True, text=True,
                )
                assert result.returncode == 0, (
                    f"kubernetes-validate --strict -k {kube} ({name}):\n{result.stdout}{result.stderr}"
                )


@test
def every_template_renders_whole_documents():
    # render() asserts per document; also no template may leave stray separators.
    for name in SCENARIOS:
        for path, text in render_raw(load_values(SCENARIOS[name])).items():
            if path.endswith("NOTES.txt"):
                assert text.strip(), "NOTES.txt is empty"
                continue
            docs = [d for d in re.split(r"^---\s*$", text, flags=re.M)]
            if text.strip():
                assert all(d.strip() for d in docs), f"{name}: {path} has an empty document"
        render(load_values(SCENARIOS[name]))


# ---------------------------------------------------------------------------- pods


@test
def probes_are_http_on_the_ops_port():
    for name in SCENARIOS:
        c = container(scenario(name))
        for probe, path in (("startupProbe", "/livez"), ("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
            p = c.get(probe)
            assert p, f"{name}: no {probe}"
            assert set(p) & {"httpGet", "grpc", "tcpSocket", "exec"} == {"httpGet"}, f"{name}: {probe} is not httpGet: {p}"
            assert p["httpGet"]["path"] == path, f"{name}: {probe} path {p['httpGet']['path']}"
            port = p["httpGet"]["port"]
            assert port in OPS_PORTS and port not in GRPC_PORTS, f"{name}: {probe} on port {port}"
        startup = c["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, "startup allows less than 120 s"
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["http-ops"] == 9090 and ports["grpc"] == 50051, ports


@test
def security_context():
    for name in SCENARIOS:
        objects = scenario(name)
        pods = [one(objects, "Deployment")["spec"]["template"]["spec"]]
        pods += [j["spec"]["template"]["spec"] for j in of_kind(objects, "Job")]
        for pod in pods:
            psc = pod["securityContext"]
            assert psc["runAsUser"] == 65532 and psc["runAsGroup"] == 65532, psc
            assert psc["runAsNonRoot"] is True and psc["fsGroup"] == 65532, psc
            assert psc["seccompProfile"]["type"] == "RuntimeDefault", psc
            for c in pod["containers"]:
                sc = c["securityContext"]
                assert sc["readOnlyRootFilesystem"] is True, sc
                assert sc["allowPrivilegeEscalation"] is False, sc
                assert sc["capabilities"]["drop"] == ["ALL"], sc
                assert sc["seccompProfile"]["type"] == "RuntimeDefault", sc
                assert "resources" in c and c["resources"].get("requests"), f"{name}: {c['name']} has no requests"
                tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
                assert tmp, f"{name}: {c['name']} has no /tmp"
            volumes = {v["name"]: v for v in pod["volumes"]}
            assert "emptyDir" in volumes["tmp"], volumes["tmp"]


@test
def deployment_runs_serve_with_the_config_file():
    for name in SCENARIOS:
        objects = scenario(name)
        c = container(objects)
        assert c["command"] == ["/usr/local/bin/endocarp"], c["command"]
        assert c["args"] == ["serve", "--config", "/etc/endocarp/endocarp.toml"], c["args"]
        mount = [m for m in c["volumeMounts"] if m["mountPath"] == "/etc/endocarp/endocarp.toml"]
        assert mount and mount[0]["subPath"] == "endocarp.toml", mount
        annotations = one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
        assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"]), annotations
        if of_kind(objects, "Secret") and any(s["metadata"]["name"] == FULLNAME for s in of_kind(objects, "Secret")):
            assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/secret"]), annotations


@test
def config_change_rolls_the_pods():
    base = one(render({}), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    changed = one(render({"config": {"maxStaleness": "9s"}}), "Deployment")
    assert changed["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != base
    inline = load_values("postgres-inline.yaml")
    a = one(render(inline), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]
    inline2 = deep_merge(inline, {"database": {"postgres": {"url": "postgres://u:other@h:5432/db"}}})
    b = one(render(inline2), "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]
    assert a != b, "a new database URL must roll the pods"


@test
def topology_spread_defaults_to_hostname_schedule_anyway():
    pod = one(scenario("postgres"), "Deployment")["spec"]["template"]["spec"]
    [tsc] = pod["topologySpreadConstraints"]
    assert tsc["topologyKey"] == "kubernetes.io/hostname" and tsc["whenUnsatisfiable"] == "ScheduleAnyway", tsc
    assert tsc["labelSelector"]["matchLabels"] == one(scenario("postgres"), "Deployment")["spec"]["selector"]["matchLabels"]
    assert "topologySpreadConstraints" not in one(scenario("minimal"), "Deployment")["spec"]["template"]["spec"]


# ---------------------------------------------------------------------------- configuration


@test
def config_toml_parses_and_uses_known_settings_only():
    for name in SCENARIOS:
        objects = scenario(name)
        config = toml_config(objects)
        unknown = set(config) - SETTINGS
        assert not unknown, f"{name}: endocarp.toml has unknown settings {unknown}"
        assert config["listen"] == "0.0.0.0:50051" and config["ops_listen"] == "0.0.0.0:9090", config
        assert config["engine"] in {"odrl", "casbin", "shadow"} and config["log_format"] in {"json", "text"}
        for secret in ("admin_tokens", "lookup_token_secret"):
            assert secret not in config, f"{name}: a secret in the ConfigMap"
        assert "postgres://" not in json.dumps(one(objects, "ConfigMap", FULLNAME)), f"{name}: a database URL in the ConfigMap"
        for key in ("max_staleness", "max_wait", "request_timeout", "poll_interval", "tcp_keepalive",
                    "http2_keepalive_interval", "http2_keepalive_timeout", "lookup_page_ttl"):
            if key in config:
                assert re.fullmatch(r"[0-9]+(ms|s|m|h)", config[key]), (key, config[key])


@test
def config_modes():
    default = toml_config(scenario("default"))
    assert default["database_url"] == "sqlite:///var/lib/endocarp/endocarp.db", default
    assert default["migrate"] is True and default["admin_listen"] == "127.0.0.1:50052", default
    assert default["log_format"] == "json" and "tls_cert" not in default, default

    pg = toml_config(scenario("postgres"))
    assert "database_url" not in pg and pg["migrate"] is False, pg  # the hook Job migrates
    assert pg["admin_listen"] == "0.0.0.0:50052", pg
    assert pg["tls_cert"] == "/etc/endocarp/tls/tls.crt" and pg["tls_key"] == "/etc/endocarp/tls/tls.key", pg
    assert pg["max_staleness"] == "10s" and pg["poll_interval"] == "1s", pg

    inline_objects = scenario("postgres-inline")
    inline = toml_config(inline_objects)
    assert inline["tls_client_ca"] == "/etc/endocarp/client-ca/ca.crt", inline
    assert inline["admin_client_certs_file"] == "/etc/endocarp/admin-client-certs", inline
    assert inline["decision_auth"] is True and inline["engine"] == "shadow", inline
    allow_list = one(inline_objects, "ConfigMap", FULLNAME)["data"]["admin-client-certs"]
    assert allow_list.strip() == "auditor:read:auditor.example.internal", allow_list
    mounts = {m["mountPath"]: m for m in container(inline_objects)["volumeMounts"]}
    assert mounts["/etc/endocarp/tls"]["readOnly"] and mounts["/etc/endocarp/client-ca"]["readOnly"], mounts
    volumes = {v["name"]: v for v in one(inline_objects, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "endocarp-tls", volumes["tls"]
    assert volumes["client-ca"]["secret"]["secretName"] == "endocarp-client-ca", volumes["client-ca"]

    no_migration = toml_config(render(deep_merge(load_values("postgres.yaml"), {"migration": {"enabled": False}})))
    assert no_migration["migrate"] is True, "without the hook Job every replica must migrate at start-up"


@test
def secrets_reach_the_environment():
    def env_of(objects):
        return {e["name"]: e for e in container(objects).get("env", [])}

    pg = env_of(scenario("postgres"))
    assert pg["ENDOCARP_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "endocarp-database", "key": "url"}, pg
    assert pg["ENDOCARP_ADMIN_TOKENS"]["valueFrom"]["secretKeyRef"] == {"name": "endocarp-admin-tokens", "key": "tokens"}, pg
    assert not [s for s in of_kind(scenario("postgres"), "Secret")], "existingSecret everywhere: the chart creates no Secret"

    objects = scenario("postgres-inline")
    env = env_of(objects)
    assert env["ENDOCARP_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": FULLNAME, "key": "database-url"}, env
    assert env["ENDOCARP_ADMIN_TOKENS"]["valueFrom"]["secretKeyRef"] == {"name": FULLNAME, "key": "admin-tokens"}, env
    secret = one(objects, "Secret", FULLNAME)
    import base64

    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["database-url"] == "postgres://endocarp:s3cret@postgres.db.svc:5432/endocarp", data
    assert data["admin-tokens"] == (
        "ci-deployer:read,write:0123456789abcdef0123456789abcdef;"
        "orders-service:check:fedcba9876543210fedcba9876543210"
    ), data

    default_env = env_of(scenario("default"))
    assert "ENDOCARP_DATABASE_URL" not in default_env and "ENDOCARP_ADMIN_TOKENS" not in default_env, default_env
    assert not of_kind(scenario("default"), "Secret"), "SQLite without tokens needs no Secret"


# ---------------------------------------------------------------------------- storage modes


@test
def sqlite_is_one_replica_recreate_with_a_claim():
    for name in ("default", "sqlite"):
        objects = scenario(name)
        deploy = one(objects, "Deployment")
        assert deploy["spec"]["replicas"] == 1, deploy["spec"].get("replicas")
        assert deploy["spec"]["strategy"] == {"type": "Recreate"}, deploy["spec"]["strategy"]
        assert not of_kind(objects, "HorizontalPodAutoscaler"), f"{name}: an HPA for SQLite"
        assert not of_kind(objects, "PodDisruptionBudget"), f"{name}: a PDB for SQLite"
        assert not of_kind(objects, "Job"), f"{name}: a migration Job for SQLite"
        pvc = one(objects, "PersistentVolumeClaim", f"{FULLNAME}-data")
        mounts = {m["mountPath"]: m["name"] for m in container(objects)["volumeMounts"]}
        assert mounts["/var/lib/endocarp"] == "data", mounts
        volumes = {v["name"]: v for v in deploy["spec"]["template"]["spec"]["volumes"]}
        assert volumes["data"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
        assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    pvc = one(scenario("sqlite"), "PersistentVolumeClaim")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "20Gi" and pvc["spec"]["storageClassName"] == "fast-ssd", pvc
    assert pvc["spec"]["accessModes"] == ["ReadWriteOncePod"], pvc

    existing = render({"persistence": {"existingClaim": "my-data"}})
    assert not of_kind(existing, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in one(existing, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "my-data"

    minimal = scenario("minimal")
    assert not of_kind(minimal, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in one(minimal, "Deployment")["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["data"], volumes["data"]


@test
def sqlite_refuses_several_replicas_and_autoscaling():
    render_fails({"replicaCount": 3}, "database.type=sqlite runs exactly one replica", "replicaCount is 3", "postgres")
    render_fails({"autoscaling": {"enabled": True}}, "database.type=sqlite runs exactly one replica", "autoscaling.enabled")


@test
def postgres_runs_replicas_with_rolling_updates():
    objects = scenario("postgres")
    deploy = one(objects, "Deployment")
    assert "replicas" not in deploy["spec"], "the HPA owns replicas"
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate", deploy["spec"]["strategy"]
    hpa = one(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["minReplicas"] == 3 and hpa["spec"]["maxReplicas"] == 12
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": FULLNAME}
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    pdb = one(objects, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["maxUnavailable"] == 1, pdb
    assert pdb["spec"]["selector"]["matchLabels"] == deploy["spec"]["selector"]["matchLabels"]
    assert not of_kind(objects, "PersistentVolumeClaim")
    assert "/var/lib/endocarp" not in {m["mountPath"] for m in container(objects)["volumeMounts"]}
    inline = scenario("postgres-inline")
    assert one(inline, "Deployment")["spec"]["replicas"] == 2
    assert one(inline, "PodDisruptionBudget")["spec"] == {
        "minAvailable": 1, "selector": one(inline, "Deployment")["spec"]["selector"],
    }
    render_fails({"database": {"type": "postgres"}}, "database.postgres.existingSecret")


@test
def migration_hook_job_and_its_secret():
    for name in ("postgres", "postgres-inline"):
        objects = scenario(name)
        job = one(objects, "Job", f"{FULLNAME}-migrate")
        ann = job["metadata"]["annotations"]
        assert set(ann["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}, ann
        assert "before-hook-creation" in ann["helm.sh/hook-delete-policy"], ann
        spec = job["spec"]
        assert spec["backoffLimit"] >= 1 and spec["activeDeadlineSeconds"] > 0 and spec["ttlSecondsAfterFinished"] > 0, spec
        pod = spec["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        c = pod["containers"][0]
        assert c["command"] == ["/usr/local/bin/endocarp"] and c["args"] == ["migrate"], c
        ref = {e["name"]: e for e in c["env"]}["ENDOCARP_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        labels = pod.get("serviceAccountName")
        assert labels is None, "the release's ServiceAccount does not exist yet when a pre-install hook runs"
        # The Job's pods must not be selected by the Services or the PodDisruptionBudget.
        selector = one(objects, "Deployment")["spec"]["selector"]["matchLabels"]
        job_labels = spec["template"]["metadata"]["labels"]
        assert not all(job_labels.get(k) == v for k, v in selector.items()), "migration pods match the server selector"
        if name == "postgres":
            assert ref == {"name": "endocarp-database", "key": "url"}, ref  # an existingSecret already exists
            assert not [s for s in of_kind(objects, "Secret") if "helm.sh/hook" in s["metadata"].get("annotations", {})]
        else:
            hook_secret = one(objects, "Secret", ref["name"])
            assert ref["key"] in hook_secret["data"], (ref, hook_secret["data"].keys())
            sann = hook_secret["metadata"]["annotations"]
            assert set(sann["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}, sann
            assert int(sann["helm.sh/hook-weight"]) < int(ann.get("helm.sh/hook-weight", "0")), "the hook Secret must come first"
            assert sann["helm.sh/hook-delete-policy"] == "before-hook-creation,hook-succeeded", sann
    for name in ("default", "sqlite", "minimal"):
        assert not of_kind(scenario(name), "Job"), f"{name}: SQLite migrates at start-up"
    off = render(deep_merge(load_values("postgres-inline.yaml"), {"migration": {"enabled": False}}))
    assert not of_kind(off, "Job") and not [s for s in of_kind(off, "Secret") if s["metadata"]["name"].endswith("-migration")]


# ---------------------------------------------------------------------------- services and network


@test
def services():
    objects = scenario("postgres")
    decision = one(objects, "Service", FULLNAME)
    [port, authzen] = decision["spec"]["ports"]
    assert port["port"] == 50051 and port["targetPort"] == "grpc" and port["appProtocol"] == "grpc", port
    # The AuthZEN API is the decision Service's second port (TLS in this scenario: https).
    assert authzen["port"] == 8181 and authzen["targetPort"] == "http-authzen", authzen
    assert authzen["appProtocol"] == "https", authzen
    assert {"name": "http-authzen", "containerPort": 8181, "protocol": "TCP"} in container(objects)["ports"]
    assert toml_config(objects)["authzen_listen"] == "0.0.0.0:8181"
    off = render({"authzen": {"enabled": False}})
    [only] = one(off, "Service", FULLNAME)["spec"]["ports"]
    assert only["name"] == "grpc", only
    assert toml_config(off)["authzen_listen"] == "off"
    assert "http-authzen" not in {p["name"] for p in container(off)["ports"]}
    public = toml_config(render({"authzen": {"publicUrl": "https://pdp.example.com", "actionNamespace": "https://acme.example/actions/"}}))
    assert public["authzen_public_url"] == "https://pdp.example.com", public
    assert public["authzen_action_namespace"] == "https://acme.example/actions/", public
    assert "authzen_public_url" not in toml_config(scenario("default"))
    for bad in ({"publicUrl": "pdp.example.com"}, {"publicUrl": "https://pdp/?q"}, {"actionNamespace": ""}):
        try:
            render_raw({"authzen": bad})
        except helm.HelmError:
            pass
        else:
            raise AssertionError(f"accepted authzen {bad}")
    admin = one(objects, "Service", f"{FULLNAME}-admin")
    assert admin["spec"]["ports"][0]["targetPort"] == "grpc-admin"
    ops = one(objects, "Service", f"{FULLNAME}-ops")
    assert ops["spec"]["ports"][0]["name"] == "http-ops" and ops["spec"]["ports"][0]["port"] == 9090
    headless = one(objects, "Service", f"{FULLNAME}-headless")
    assert headless["spec"]["clusterIP"] == "None"
    selector = one(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    for svc in of_kind(objects, "Service"):
        assert svc["spec"]["selector"] == selector, svc["metadata"]["name"]
    default = scenario("default")
    names = {s["metadata"]["name"] for s in of_kind(default, "Service")}
    assert names == {FULLNAME, f"{FULLNAME}-ops"}, f"admin not exposed, yet Services {names}"
    assert "grpc-admin" not in {p["name"] for p in container(default)["ports"]}


@test
def admin_exposed_without_credentials_is_refused():
    msg = "admin.expose=true would open the admin API to the network without credentials"
    render_fails({"admin": {"expose": True}}, msg)
    render_fails({"admin": {"expose": True}, "tls": {"enabled": True, "existingSecret": "t"}}, msg)
    render_fails({"admin": {"expose": True}, "tls": {"enabled": True, "existingSecret": "t", "mtls": {"enabled": True}}}, msg)
    # Credentials from any of the three sources are enough.
    render({"admin": {"expose": True, "existingSecret": "tokens"}})
    render({"admin": {"expose": True, "tokens": [{"name": "ci", "scopes": ["read"], "token": "x" * 16}]}})
    render({"admin": {"expose": True}, "tls": {"enabled": True, "existingSecret": "t", "mtls": {
        "enabled": True, "allowedClients": [{"name": "ops", "scopes": ["read", "write"], "dnsName": "ops.internal"}]}}})


@test
def other_refusals():
    render_fails({"config": {"decisionAuth": True}}, "config.decisionAuth=true needs tokens")
    render_fails({"tls": {"enabled": True}}, "tls.existingSecret")
    render_fails({"tls": {"mtls": {"enabled": True}}}, "tls.mtls.enabled needs tls.enabled")
    render_fails({"admin": {"tokens": [{"name": "a", "scopes": ["read"], "token": "x" * 16}], "existingSecret": "s"}}, "not both")
    # The schema refuses short tokens and unknown scopes before the template does.
    for bad in ({"name": "a", "scopes": ["read"], "token": "short"}, {"name": "a", "scopes": ["root"], "token": "x" * 16}):
        try:
            render_raw({"admin": {"tokens": [bad]}})
        except helm.HelmError:
            pass
        else:
            raise AssertionError(f"accepted admin token {bad}")


@test
def network_policy_closes_the_admin_port():
    values = load_values("postgres.yaml")
    objects = render(values)
    policy = one(objects, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == one(objects, "Deployment")["spec"]["selector"]["matchLabels"]
    assert "Ingress" in policy["spec"]["policyTypes"]
    rules = policy["spec"]["ingress"]

    def rules_for(port):
        return [r for r in rules if any(p.get("port") in port for p in r.get("ports", []))]

    # No rule may open every port (a rule without ports covers them all).
    assert all(r.get("ports") for r in rules), "an ingress rule without ports opens the admin port"
    admin_rules = rules_for({"grpc-admin", 50052})
    assert len(admin_rules) == 1, admin_rules
    assert admin_rules[0].get("from"), f"the admin port is open to all: {admin_rules[0]}"
    assert admin_rules[0]["from"] == values["networkPolicy"]["admin"]["from"], admin_rules[0]
    decision_rules = rules_for({"grpc", 50051})
    assert decision_rules[0]["from"] == values["networkPolicy"]["decision"]["from"]
    assert rules_for({"http-ops", 9090})[0]["from"] == values["networkPolicy"]["ops"]["from"]
    assert rules_for({"http-authzen", 8181})[0]["from"] == values["networkPolicy"]["authzen"]["from"]
    # Probes stay on the ops port whatever the AuthZEN port does.
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in container(objects):
            assert container(objects)[probe]["httpGet"]["port"] == "http-ops", probe
    egress = policy["spec"]["egress"]
    assert any(p.get("port") == 53 for r in egress for p in r.get("ports", [])), "DNS egress"
    assert any(p.get("port") == 5432 for r in egress for p in r.get("ports", [])), "PostgreSQL egress"

    # Default peers: decision and ops from anywhere, the admin port from nobody.
    inline = one(scenario("postgres-inline"), "NetworkPolicy")
    assert not [r for r in inline["spec"]["ingress"] if any(p["port"] == "grpc-admin" for p in r["ports"])]
    assert "Egress" not in inline["spec"]["policyTypes"]
    decision = [r for r in inline["spec"]["ingress"] if r["ports"][0]["port"] == "grpc"]
    assert decision and "from" not in decision[0], decision
    assert not of_kind(scenario("default"), "NetworkPolicy")


# ---------------------------------------------------------------------------- monitoring


@test
def service_monitor_scrapes_the_ops_service():
    objects = scenario("postgres")
    sm = one(objects, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    ops = one(objects, "Service", f"{FULLNAME}-ops")
    labels = ops["metadata"]["labels"]
    for k, v in sm["spec"]["selector"]["matchLabels"].items():
        assert labels.get(k) == v, f"ServiceMonitor selector {k}={v} does not match the ops Service"
    others = [s for s in of_kind(objects, "Service") if s["metadata"]["name"] != ops["metadata"]["name"]]
    for s in others:
        assert not all(s["metadata"]["labels"].get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items()), (
            f"ServiceMonitor also selects {s['metadata']['name']}"
        )
    assert sm["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
    [endpoint] = sm["spec"]["endpoints"]
    assert endpoint["port"] == ops["spec"]["ports"][0]["name"] and endpoint["path"] == "/metrics", endpoint
    assert endpoint["honorLabels"] is False, "targets must not override job/namespace labels"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    for name in ("default", "minimal", "sqlite"):
        kinds = {o["kind"] for o in scenario(name)}
        assert not kinds & CRD_KINDS, f"{name}: CRD objects rendered by default"


@test
def prometheus_rule_alerts():
    objects = scenario("postgres")
    rule = one(objects, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    names = {a["alert"] for a in alerts}
    expected = {
        "EndocarpDecisionLatencyHigh", "EndocarpGrpcErrorRateHigh", "EndocarpReplicaLagEvents",
        "EndocarpReplicaLagSeconds", "EndocarpStale", "EndocarpShadowDisagreements", "EndocarpStorageErrors",
    }
    assert names == expected, names
    for a in alerts:
        assert a.get("expr") and a.get("for") and a["labels"].get("severity") and a["annotations"].get("summary"), a
        assert re.fullmatch(r"[0-9]+[smhdwy]", a["for"]), a["for"]
        assert a["labels"]["team"] == "identity", "alertLabels"
        expr = a["expr"]
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
        used = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr))
        assert used, f"{a['alert']}: no metric selector"
        assert used <= METRICS, f"{a['alert']}: unknown metrics {used - METRICS}"
        assert f'namespace="{NAMESPACE}"' in expr and f'job="{FULLNAME}-ops"' in expr, f"{a['alert']} is not scoped"
    by = {a["alert"]: a for a in alerts}
    latency = by["EndocarpDecisionLatencyHigh"]["expr"]
    assert "endocarp_grpc_request_duration_seconds_bucket" in latency and "histogram_quantile(0.99" in latency
    assert 'grpc_service="endocarp.v1.AuthorizationService"' in latency and "IsAuthorized|IsAuthorizedInAccount" in latency
    errors = by["EndocarpGrpcErrorRateHigh"]["expr"]
    codes = set(re.search(r'grpc_code=~"([^"]+)"', errors).group(1).split("|"))
    assert {"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"} <= codes, codes
    assert not codes & {"OK", "PERMISSION_DENIED", "UNAUTHENTICATED", "INVALID_ARGUMENT", "NOT_FOUND"}, codes
    assert "endocarp_stale" in by["EndocarpStale"]["expr"] and "== 1" in by["EndocarpStale"]["expr"]
    assert "increase(endocarp_shadow_disagreements_total" in by["EndocarpShadowDisagreements"]["expr"]
    assert "endocarp_storage_errors_total" in by["EndocarpStorageErrors"]["expr"]
    assert "endocarp_replica_lag_events" in by["EndocarpReplicaLagEvents"]["expr"]
    assert "endocarp_replica_lag_seconds" in by["EndocarpReplicaLagSeconds"]["expr"]
    # Thresholds come from values.
    tuned = deep_merge(load_values("postgres.yaml"), {"metrics": {"prometheusRule": {"alerts": {
        "decisionLatency": {"thresholdSeconds": 0.025}, "stale": {"enabled": False}}}}})
    tuned_alerts = {r["alert"]: r for g in one(render(tuned), "PrometheusRule")["spec"]["groups"] for r in g["rules"]}
    assert tuned_alerts["EndocarpDecisionLatencyHigh"]["expr"].strip().endswith("> 0.025")
    assert "EndocarpStale" not in tuned_alerts


# ---------------------------------------------------------------------------- docs and image


@test
def readme_values_table_matches_values_yaml():
    readme = (ROOT / "README.md").read_text()
    assert "## Deploy with Helm" in readme, "README.md lacks a '## Deploy with Helm' section"
    section = readme[readme.index("## Deploy with Helm"):]
    assert values_table.BEGIN in section, "the values table is not in the Deploy with Helm section"
    table = values_table.parse_readme_table(readme)
    expected = {key: (typ, default, desc) for key, typ, default, desc in values_table.rows()}
    missing = sorted(set(expected) - set(table))
    extra = sorted(set(table) - set(expected))
    assert not missing, f"README values table misses {missing} (python3 helm/tests/values_table.py --write)"
    assert not extra, f"README values table lists keys that no longer exist: {extra}"
    for key, (typ, default, _desc) in expected.items():
        got_type, got_default, _ = table[key]
        assert json.loads(got_default) == json.loads(default), f"README default of {key}: {got_default} != {default}"
        assert got_type == typ, f"README type of {key}: {got_type} != {typ}"
    undescribed = [key for key, (_, _, desc) in expected.items() if not desc]
    assert not undescribed, f"values.yaml keys without a '# --' description: {undescribed}"


@test
def dockerfile_matches_the_chart():
    dockerfile = (ROOT / "Dockerfile").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["kubeVersion"] == ">=1.27.0-0", chart
    repo = values["image"]["repository"]
    assert repo == "ghcr.io/endocarp/endocarp", repo
    assert f"published as {repo}:" in dockerfile, "the Dockerfile does not document the chart's image repository"
    assert repo in (ROOT / "README.md").read_text(), "README.md does not document the image repository"
    [user] = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.M)
    uid, gid = user.split(":")
    sc = values["podSecurityContext"]
    assert (int(uid), int(gid)) == (sc["runAsUser"], sc["runAsGroup"]), (user, sc)
    assert (int(uid), int(gid)) == (values["securityContext"]["runAsUser"], values["securityContext"]["runAsGroup"])
    [entry] = re.findall(r"^ENTRYPOINT\s+(.+)$", dockerfile, flags=re.M)
    assert json.loads(entry) == container(render({}))["command"], entry
    [expose] = re.findall(r"^EXPOSE\s+(.+)$", dockerfile, flags=re.M)
    assert sorted(int(p) for p in expose.split()) == [9090, 50051, 50052], expose
    assert re.search(r"^FROM rust:1\.94-bookworm AS build$", dockerfile, flags=re.M)
    assert re.search(r"^FROM gcr\.io/distroless/cc-debian12:nonroot$", dockerfile, flags=re.M)
    assert "cargo build --release --locked" in dockerfile
    # The default image is the profile-guided build, and its script reaches the build.
    assert re.search(r"^ARG PGO=1$", dockerfile, flags=re.M) and "scripts/build-pgo" in dockerfile
    assert f"ARG VERSION={chart['appVersion']}" in dockerfile, "the image version label differs from appVersion"
    image = container(render({}))["image"]
    assert image == f"{repo}:{chart['appVersion']}", image
    ignored = (ROOT / ".dockerignore").read_text().split()
    for needed in ("src", "proto", "migrations", "benches", "Cargo.toml", "Cargo.lock", "build.rs"):
        assert needed not in ignored, f".dockerignore drops {needed}, which the build needs"
    assert "target" in ignored and ".git" in ignored
    assert "scripts" not in ignored or "!scripts/build-pgo" in ignored, ".dockerignore drops scripts/build-pgo"


@test
def notes_explain_access():
    notes = render_raw({})["endocarp/templates/NOTES.txt"]
    assert "port-forward" in notes and "endocarp check" in notes and "/metrics" in notes, notes
    assert "/access/v1/evaluation" in notes and "8181" in notes, notes
    assert "AuthZEN" not in render_raw({"authzen": {"enabled": False}})["endocarp/templates/NOTES.txt"]
    notes = render_raw(load_values("postgres-inline.yaml"))["endocarp/templates/NOTES.txt"]
    assert "s3cret" not in notes and "0123456789abcdef" not in notes, "NOTES.txt leaks a secret"
    assert "https://127.0.0.1:50051" in notes


if __name__ == "__main__":
    sys.exit(run())
