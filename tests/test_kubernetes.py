"""The Kubernetes manifests (deploy/k8s) build, are valid, hardened, and agree with the image.

Every kustomization is built by kustomize itself (`kubectl kustomize`, locked in the dev
dependencies), once per session, and every manifest and build is checked against the Kubernetes
1.30 schemas bundled in kubernetes-validate. kustomize passes over a patch or an image whose
target matches nothing, so the tests check that each one changes what it names.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import json
import re
import shutil
from typing import TYPE_CHECKING, Any

import kubernetes_validate  # type: ignore[import-untyped] # no py.typed marker
import pytest
import yaml

from tests.support.kubernetes import (
    Kustomizations,
    KustomizeError,
    Resource,
    ResourceId,
    build,
    by_id,
    deployable_copy,
    kustomization_dirs,
    load_documents,
    pod_spec,
)
from tests.support.source import settings_default
from tests.support.variants import Variant, all_variants

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.kubernetes import KustomizationCache
    from tests.support.render import Renderer

KUBERNETES_VERSION = "1.30"
VARIANTS = all_variants()
K8S_VARIANTS = [v for v in VARIANTS if v.answers["use_kubernetes"]]
#: What docs/kubernetes.md has a team apply: the production overlay and its migration Job.
DEPLOYED = ["overlays/production", "overlays/production/migrate"]
#: The kustomizations a team builds: they take in every other one (app/ and config/ folders).
KUSTOMIZATIONS = ["base", "base/migrate", *DEPLOYED]
#: Every folder of deploy/k8s that holds a kustomization.
ALL_KUSTOMIZATIONS = sorted(
    [*KUSTOMIZATIONS, "base/app", "base/config", "overlays/production/config"]
)


def _params(variants: list[Variant]) -> list[object]:
    return [pytest.param(v, id=v.id, marks=pytest.mark.xdist_group(v.id)) for v in variants]


@pytest.fixture(params=_params(K8S_VARIANTS))
def variant(request: pytest.FixtureRequest) -> Variant:
    """Return an answer set with use_kubernetes."""
    value: Variant = request.param
    return value


@pytest.fixture
def kustomizations(
    renderer: Renderer, variant: Variant, kustomization_cache: KustomizationCache
) -> Kustomizations:
    """Return the variant's deploy/k8s, production's secrets.env made from its example."""
    return kustomization_cache.of(renderer.project(variant.answers))


@pytest.fixture
def production(kustomizations: Kustomizations) -> dict[ResourceId, Resource]:
    """Return the production overlay of the app, built, by kind and name."""
    return by_id(kustomizations.build("overlays/production"))


@pytest.fixture
def slug(variant: Variant) -> str:
    """Return the variant's project slug (the template's default when it sets none)."""
    return str(variant.answers.get("project_slug", "taskapi"))


def _container(resource: Resource) -> dict[str, Any]:
    spec = pod_spec(resource)
    assert spec is not None
    (container,) = spec["containers"]
    value: dict[str, Any] = container
    return value


def _decoded(resource: Resource) -> Resource:
    if resource["kind"] != "Secret":
        return resource
    return resource | {"data": {k: base64.b64decode(v) for k, v in resource["data"].items()}}


@pytest.mark.parametrize("variant", _params(VARIANTS), indirect=True)
def test_deploy_dir_iff_use_kubernetes(renderer: Renderer, variant: Variant) -> None:
    """Only use_kubernetes renders deploy/, and its docs page."""
    project = renderer.project(variant.answers)
    wanted = bool(variant.answers["use_kubernetes"])
    assert (project / "deploy").exists() is wanted
    assert (project / "docs" / "kubernetes.md").exists() is wanted


def test_every_kustomization_builds_valid_manifests(kustomizations: Kustomizations) -> None:
    """Every kustomization builds, each object once; every file and every build is valid."""
    root = kustomizations.root
    assert kustomization_dirs(root) == ALL_KUSTOMIZATIONS
    built = [kustomizations.build(path) for path in KUSTOMIZATIONS]
    assert all(len(by_id(resources)) > 0 for resources in built)
    manifests = [p for p in root.rglob("*.yaml") if p.name != "kustomization.yaml"]
    patches = {p for p in manifests if p.name.endswith("-patch.yaml")}
    files = [r for p in sorted(set(manifests) - patches) for r in load_documents(p.read_text())]
    assert len(files) >= 7
    distinct = {json.dumps(r, sort_keys=True): r for r in [*files, *itertools.chain(*built)]}
    for resource in distinct.values():
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("path", DEPLOYED)
def test_deployed_builds_are_namespaced_and_labelled(
    kustomizations: Kustomizations, slug: str, path: str
) -> None:
    """Every object a team applies is in the project's namespace, with the overlay's labels."""
    for resource in kustomizations.build(path):
        assert slug == resource["metadata"]["namespace"]
        labels = resource["metadata"]["labels"]
        assert labels["app.kubernetes.io/environment"] == "production"
        assert labels["app.kubernetes.io/part-of"] == slug


def test_production_renders_every_object(
    production: dict[ResourceId, Resource], slug: str, variant: Variant
) -> None:
    """The production overlay holds the app's objects, and with background jobs the worker's."""
    expected = {
        ResourceId("ConfigMap", f"{slug}-config"),
        ResourceId("Secret", f"{slug}-secrets"),
        ResourceId("Deployment", slug),
        ResourceId("Service", slug),
        ResourceId("Ingress", slug),
        ResourceId("Ingress", f"{slug}-login"),
        ResourceId("Ingress", f"{slug}-register"),
        ResourceId("HorizontalPodAutoscaler", slug),
        ResourceId("PodDisruptionBudget", slug),
    }
    if variant.answers["background_jobs"]:
        expected |= {
            ResourceId("Deployment", f"{slug}-worker"),
            ResourceId("PodDisruptionBudget", f"{slug}-worker"),
        }
    assert expected == set(production)


def test_deployment_is_hardened(production: dict[ResourceId, Resource], slug: str) -> None:
    """Probes, resources, security context, rolling update and draining are all set."""
    deployment = production[ResourceId("Deployment", slug)]
    spec = pod_spec(deployment)
    assert spec is not None
    container = _container(deployment)
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    probes = {name: container[name]["httpGet"] for name in ("startupProbe", "livenessProbe")}
    assert all(p == {"path": "/healthz/live", "port": "http"} for p in probes.values())
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz/ready", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "384Mi"}
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "768Mi"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "capabilities": {"drop": ["ALL"]},
    }
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108
    assert "emptyDir" in next(v for v in spec["volumes"] if v["name"] == "tmp")
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    gunicorn_graceful_timeout = 30
    assert spec["terminationGracePeriodSeconds"] > int(pre_stop[1]) + gunicorn_graceful_timeout


@pytest.fixture
def worker(production: dict[ResourceId, Resource], slug: str, variant: Variant) -> Resource | None:
    """Return the job worker's Deployment in production; None without background jobs."""
    found = production.get(ResourceId("Deployment", f"{slug}-worker"))
    assert (found is not None) is variant.answers["background_jobs"]
    return found


def test_worker_runs_the_jobs_from_the_app_image(
    production: dict[ResourceId, Resource], worker: Resource | None, slug: str, variant: Variant
) -> None:
    """The worker runs `job_worker` from the app's image and settings; its probe is `worker_alive`.

    It serves nothing: no port, no readiness probe, no Service or Ingress selects it.
    """
    if worker is None:
        return
    package = variant.answers.get("package_name", "taskapi")
    app = _container(production[ResourceId("Deployment", slug)])
    container = _container(worker)
    entry_point = ["python", "-m", f"{package}.job_worker"]
    assert container["command"] == entry_point
    assert container["image"] == app["image"]
    assert container["imagePullPolicy"] == app["imagePullPolicy"]
    assert container["envFrom"] == app["envFrom"]
    alive = ["python", "-m", f"{package}.worker_alive"]
    assert container["livenessProbe"]["exec"] == {"command": alive}
    assert {"periodSeconds", "timeoutSeconds", "failureThreshold"} <= set(
        container["livenessProbe"]
    )
    assert "readinessProbe" not in container
    assert "ports" not in container
    labels = worker["spec"]["template"]["metadata"]["labels"]
    services = [r["spec"]["selector"] for r in production.values() if r["kind"] == "Service"]
    assert services
    assert [s for s in services if s.items() <= labels.items()] == []
    assert (
        worker["spec"]["selector"]["matchLabels"]
        != (production[ResourceId("Deployment", slug)]["spec"]["selector"]["matchLabels"])
    )


def test_worker_is_hardened_and_drains(
    production: dict[ResourceId, Resource],
    worker: Resource | None,
    slug: str,
    renderer: Renderer,
    variant: Variant,
) -> None:
    """The worker has the app's security contexts, resources, a PDB and time to finish its jobs.

    On SIGTERM it lets its running jobs finish: a webhook delivery connects, sends and waits for
    the answer, each within WEBHOOK_TIMEOUT.
    """
    if worker is None:
        return
    app = production[ResourceId("Deployment", slug)]
    spec, app_spec = pod_spec(worker), pod_spec(app)
    assert spec is not None
    assert app_spec is not None
    container = _container(worker)
    assert container["securityContext"] == _container(app)["securityContext"]
    assert spec["securityContext"] == app_spec["securityContext"]
    assert spec["automountServiceAccountToken"] is False
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108
    assert "emptyDir" in next(v for v in spec["volumes"] if v["name"] == "tmp")
    assert set(container["resources"]) == {"requests", "limits"}
    assert all(set(r) == {"cpu", "memory"} for r in container["resources"].values())
    package = variant.answers.get("package_name", "taskapi")
    settings = renderer.project(variant.answers) / "src" / package / "jobs" / "settings.py"
    webhook_timeout = settings_default(settings, "WEBHOOK_TIMEOUT")
    assert isinstance(webhook_timeout, float)
    assert spec["terminationGracePeriodSeconds"] > 3 * webhook_timeout
    pdb = production[ResourceId("PodDisruptionBudget", f"{slug}-worker")]["spec"]
    assert pdb["selector"] == worker["spec"]["selector"]
    assert 1 <= pdb["minAvailable"] < worker["spec"]["replicas"]


def test_settings_come_from_config_and_secret(
    production: dict[ResourceId, Resource], slug: str, variant: Variant
) -> None:
    """The pods read the ConfigMap and the Secret; the Secret holds placeholders only."""
    container = _container(production[ResourceId("Deployment", slug)])
    assert [
        {"configMapRef": {"name": f"{slug}-config"}},
        {"secretRef": {"name": f"{slug}-secrets"}},
    ] == container["envFrom"]
    config = production[ResourceId("ConfigMap", f"{slug}-config")]["data"]
    assert config["GUNICORN_WORKERS"] == "3"
    assert config["ENVIRONMENT"] == "production"
    secret = _decoded(production[ResourceId("Secret", f"{slug}-secrets")])["data"]
    expected = {"SECRET_KEY", "DATABASE_URL"} | (
        {"REDIS_URL"} if variant.answers["use_redis"] else set()
    )
    assert expected == set(secret)
    assert all(b"CHANGE-ME" in value for value in secret.values())


def test_overlays_set_the_image(
    kustomizations: Kustomizations, production: dict[ResourceId, Resource], slug: str
) -> None:
    """Both production kustomizations move the app and the Job to the same registry image."""
    base = by_id(kustomizations.build("base"))
    assert f"{slug}:latest" == _container(base[ResourceId("Deployment", slug)])["image"]
    image = f"registry.example.com/{slug}:0.1.0"
    assert image == _container(production[ResourceId("Deployment", slug)])["image"]
    migrate = by_id(kustomizations.build("overlays/production/migrate"))
    assert image == _container(migrate[ResourceId("Job", f"{slug}-migrate")])["image"]


def test_image_matches_the_project(renderer: Renderer, variant: Variant, slug: str) -> None:
    """The base's image name and port are compose's image name and the Dockerfile's EXPOSE."""
    project = renderer.project(variant.answers)
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    assert f"${{APP_IMAGE:-{slug}:latest}}" == compose["services"]["app"]["image"]
    exposed = re.findall(r"^EXPOSE (\d+)$", (project / "Dockerfile").read_text(), re.MULTILINE)
    bind = re.search(r'"GUNICORN_BIND", "[^"]*:(\d+)"', (project / "gunicorn.conf.py").read_text())
    assert bind is not None
    manifest = project / "deploy" / "k8s" / "base" / "app" / "deployment.yaml"
    (deployment,) = load_documents(manifest.read_text())
    container = _container(deployment)
    assert f"{slug}:latest" == container["image"]
    assert [str(container["ports"][0]["containerPort"])] == exposed
    assert bind.group(1) == exposed[0]


CREDENTIAL_PATHS = {
    "/api/v1/auth/login": "-login",
    "/api/v1/auth/token": "-login",
    "/api/v1/auth/refresh": "-login",
    "/api/v1/users/me/password": "-login",
    "/api/v1/auth/password-reset": "-login",
    "/api/v1/auth/password-reset/confirm": "-login",
    "/api/v1/auth/verify-email": "-login",
    "/api/v1/users/me/verification": "-login",
    "/api/v1/auth/register": "-register",
}
LIMITS = {"-login": ("10", "1"), "-register": ("1", "5")}


def _paths(ingress: Resource) -> dict[str, str]:
    return {
        path["path"]: path["pathType"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }


def test_ingress_limits_every_credential_path(
    production: dict[ResourceId, Resource], slug: str
) -> None:
    """Every credential path (login, token, refresh, password, registration) is rate-limited.

    ingress-nginx applies annotations to a whole Ingress, so a limit on the catch-all one would
    limit the API; an exact path in a limited Ingress wins over the catch-all `/` prefix.
    """
    ingresses = {r.name: production[r] for r in production if r.kind == "Ingress"}
    assert set(ingresses) == {slug} | {slug + suffix for suffix in LIMITS}
    for path, suffix in CREDENTIAL_PATHS.items():
        assert _paths(ingresses[slug + suffix]).get(path) == "Exact", path
    for suffix, (rpm, burst) in LIMITS.items():
        ingress = ingresses[slug + suffix]
        annotations = ingress["metadata"]["annotations"]
        assert annotations["nginx.ingress.kubernetes.io/limit-rpm"] == rpm
        assert annotations["nginx.ingress.kubernetes.io/limit-burst-multiplier"] == burst
        assert set(_paths(ingress)) == {p for p, s in CREDENTIAL_PATHS.items() if s == suffix}
    assert _paths(ingresses[slug]) == {"/": "Prefix"}
    for ingress in ingresses.values():
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert ingress["metadata"]["annotations"][
            "nginx.ingress.kubernetes.io/proxy-body-size"
        ] == ("1m")
        backends = [
            path["backend"]["service"]
            for rule in ingress["spec"]["rules"]
            for path in rule["http"]["paths"]
        ]
        assert all(b == {"name": slug, "port": {"name": "http"}} for b in backends)
    service = production[ResourceId("Service", slug)]
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]


@pytest.mark.parametrize("path", ["base", "overlays/production"])
def test_pods_trust_forwarded_headers_from_the_pod_network_only(
    kustomizations: Kustomizations, slug: str, path: str
) -> None:
    """GUNICORN_FORWARDED_ALLOW_IPS is a private network of at most a /12, never `*`."""
    config = by_id(kustomizations.build(path))[ResourceId("ConfigMap", f"{slug}-config")]["data"]
    trusted = config["GUNICORN_FORWARDED_ALLOW_IPS"].split(",")
    assert "*" not in trusted
    networks = [ipaddress.ip_network(entry.strip()) for entry in trusted]
    assert all(n.is_private and n.prefixlen >= MIN_PREFIX[n.version] for n in networks), networks


#: The widest network the pods may trust: a /12 (IPv4), a /48 (IPv6).
MIN_PREFIX = {4: 12, 6: 48}


def test_scaling_and_disruption(production: dict[ResourceId, Resource], slug: str) -> None:
    """The autoscaler scales the Deployment on CPU; the budget keeps a pod up."""
    hpa = production[ResourceId("HorizontalPodAutoscaler", slug)]["spec"]
    assert {"apiVersion": "apps/v1", "kind": "Deployment", "name": slug} == hpa["scaleTargetRef"]
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    pdb = production[ResourceId("PodDisruptionBudget", slug)]["spec"]
    deployment = production[ResourceId("Deployment", slug)]
    assert pdb["selector"] == deployment["spec"]["selector"]
    assert pdb["minAvailable"] == 1


def test_migration_job(kustomizations: Kustomizations, slug: str) -> None:
    """The migration Job runs alembic with the app's settings, and is retried and cleaned up."""
    rendered = by_id(kustomizations.build("overlays/production/migrate"))
    job = rendered[ResourceId("Job", f"{slug}-migrate")]
    assert {
        ResourceId("ConfigMap", f"{slug}-config"),
        ResourceId("Secret", f"{slug}-secrets"),
    } < set(rendered)
    assert _container(job)["command"] == ["alembic", "upgrade", "head"]
    assert job["spec"]["backoffLimit"] == 2
    assert "ttlSecondsAfterFinished" in job["spec"]
    assert _container(job)["securityContext"]["readOnlyRootFilesystem"] is True


def test_metrics_annotations(
    production: dict[ResourceId, Resource], slug: str, variant: Variant
) -> None:
    """With metrics, the pods invite Prometheus to scrape /metrics on port 8000."""
    annotations = production[ResourceId("Deployment", slug)]["spec"]["template"]["metadata"].get(
        "annotations", {}
    )
    expected = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "8000",
        "prometheus.io/path": "/metrics",
    }
    assert (expected if variant.answers["use_metrics"] else {}) == annotations


def test_production_needs_its_secrets_file(
    renderer: Renderer, variant: Variant, tmp_path: Path
) -> None:
    """Without the git-ignored secrets.env, the production overlay does not build."""
    k8s = deployable_copy(renderer.project(variant.answers), tmp_path / "k8s")
    config = k8s / "overlays" / "production" / "config"
    assert (config / ".gitignore").read_text().splitlines()[-1] == "secrets.env"
    (config / "secrets.env").unlink()
    with pytest.raises(KustomizeError, match=r"secrets\.env"):
        build(k8s / "overlays" / "production")


def test_every_patch_changes_its_target_alone(
    kustomizations: Kustomizations, tmp_path: Path
) -> None:
    """Each patch of each kustomization changes the one object it targets, and nothing else.

    kustomize passes over a patch whose target matches nothing: without this check, a renamed
    Deployment would quietly lose production's resources and pull policy.
    """
    root = kustomizations.root
    checked: list[tuple[str, int]] = []
    for path in kustomization_dirs(root):
        kustomization = yaml.safe_load((root / path / "kustomization.yaml").read_text())
        patches = kustomization.get("patches", [])
        for index, patch in enumerate(patches):
            copy = shutil.copytree(root, tmp_path / str(len(checked)))
            others = [p for i, p in enumerate(patches) if i != index]
            (copy / path / "kustomization.yaml").write_text(
                yaml.safe_dump(kustomization | {"patches": others})
            )
            unpatched = by_id(build(copy / path))
            patched = by_id(kustomizations.build(path))
            changed = {r for r in {*unpatched, *patched} if unpatched.get(r) != patched.get(r)}
            assert changed == {_patch_target(root / path, patch)}, (path, patch)
            checked.append((path, index))
    assert checked


def _patch_target(directory: Path, patch: dict[str, Any]) -> ResourceId:
    """Return the object a patch entry names: its `target`, else the patch's own kind and name."""
    target = patch.get("target") or yaml.safe_load((directory / patch["path"]).read_text())
    if "metadata" in target:
        return ResourceId.of(target)
    return ResourceId(target["kind"], target["name"])


@pytest.mark.parametrize("path", DEPLOYED)
def test_every_reference_resolves_within_the_build(
    kustomizations: Kustomizations, path: str
) -> None:
    """What each applied object refers to is in the same build, and every selector selects pods.

    Settings and secrets of the pods, the Ingresses' Service and port, the autoscaler's target;
    the Deployment's, the Service's and the budget's selectors match a pod template's labels.
    """
    resources = by_id(kustomizations.build(path))
    for resource in resources.values():
        for reference in _references(resource):
            assert reference in resources, (ResourceId.of(resource), reference)
        for backend in _ingress_backends(resource):
            service = resources[ResourceId("Service", backend["name"])]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    pods = [
        resource["spec"]["template"]["metadata"]["labels"]
        for resource in resources.values()
        if pod_spec(resource) is not None
    ]
    for resource in resources.values():
        selector = _selector(resource)
        if selector is not None:
            assert selector, ResourceId.of(resource)
            selects = any(selector.items() <= labels.items() for labels in pods)
            assert selects, f"{ResourceId.of(resource)} selects no pod: {selector}"


def _references(resource: Resource) -> list[ResourceId]:
    """Return the objects `resource` names: config and secrets of its pods, a scale target."""
    if resource["kind"] == "HorizontalPodAutoscaler":
        target = resource["spec"]["scaleTargetRef"]
        return [ResourceId(target["kind"], target["name"])]
    spec = pod_spec(resource)
    if spec is None:
        return []
    found: list[ResourceId] = []
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        for source in container.get("envFrom", []):
            found += _named(source, "configMapRef", "secretRef")
        for variable in container.get("env", []):
            found += _named(variable.get("valueFrom", {}), "configMapKeyRef", "secretKeyRef")
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            found.append(ResourceId("ConfigMap", volume["configMap"]["name"]))
        if "secret" in volume:
            found.append(ResourceId("Secret", volume["secret"]["secretName"]))
    return found


def _named(source: dict[str, Any], config_key: str, secret_key: str) -> list[ResourceId]:
    """Return the ConfigMap or Secret an envFrom or valueFrom entry names."""
    kinds = {config_key: "ConfigMap", secret_key: "Secret"}
    return [ResourceId(kinds[key], source[key]["name"]) for key in kinds if key in source]


def _ingress_backends(resource: Resource) -> list[dict[str, Any]]:
    """Return the Service backends of an Ingress (none for other kinds)."""
    if resource["kind"] != "Ingress":
        return []
    return [
        path["backend"]["service"]
        for rule in resource["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]


def _selector(resource: Resource) -> dict[str, str] | None:
    """Return the pod labels a Deployment, Service or PodDisruptionBudget selects, else None."""
    if resource["kind"] == "Service":
        selector: dict[str, str] = resource["spec"]["selector"]
        return selector
    if resource["kind"] in {"Deployment", "PodDisruptionBudget"}:
        assert set(resource["spec"]["selector"]) == {"matchLabels"}
        labels: dict[str, str] = resource["spec"]["selector"]["matchLabels"]
        return labels
    return None
