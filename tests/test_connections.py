"""PostgreSQL connections: every deployment the template ships fits the server's default limit.

Each gunicorn worker has its own pool of `DB_POOL_SIZE + DB_MAX_OVERFLOW` connections. The table
in docs/operations.md gives the total for compose and for Kubernetes; these tests recompute each
row from the settings, the compose file and the manifests, and check it fits in PostgreSQL's
default `max_connections` (100, of which 3 are kept for superusers) with the migration's one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import pytest

from tests.support.deploy import compose_services
from tests.support.kubernetes import ResourceId, build, by_id, deployable_copy
from tests.support.source import settings_default
from tests.support.variants import ROOT, all_variants

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.render import Renderer

#: PostgreSQL's default `max_connections` less its `superuser_reserved_connections`.
AVAILABLE: Final = 100 - 3
#: The migration (compose's `migrate` service, the Kubernetes Job) holds one while it runs.
MIGRATION: Final = 1
POOL_SETTINGS: Final = ("DB_POOL_SIZE", "DB_MAX_OVERFLOW")


@dataclass(frozen=True)
class KubernetesScale:
    """What the production overlay sets: workers and pools per pod, and how many pods."""

    workers: int
    pool: int
    overflow: int
    min_pods: int
    max_pods: int
    #: Pods a rolling update adds above the current count.
    surge: int


def sizing_table() -> dict[str, list[str]]:
    """Return the rows of docs/operations.md's connections table, by their first cell."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("### Connections: pool sizes times workers", 1)[1].split("\n### ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in rows[2:]}


@pytest.fixture(scope="module")
def default_project(renderer: Renderer) -> Path:
    """Return the project rendered with every default answer (PostgreSQL, compose)."""
    return renderer.project({})


@pytest.fixture(scope="module")
def production(renderer: Renderer, tmp_path_factory: pytest.TempPathFactory) -> KubernetesScale:
    """Return the scale of a Kubernetes variant's production overlay, as kustomize builds it."""
    variant = next(v for v in all_variants() if v.answers["use_kubernetes"])
    slug = str(variant.answers.get("project_slug", "taskapi"))
    k8s = deployable_copy(renderer.project(variant.answers), tmp_path_factory.mktemp("k8s") / "k8s")
    resources = by_id(build(k8s / "overlays" / "production"))
    config = resources[ResourceId("ConfigMap", f"{slug}-config")]["data"]
    autoscaler = resources[ResourceId("HorizontalPodAutoscaler", slug)]["spec"]
    rollout = resources[ResourceId("Deployment", slug)]["spec"]["strategy"]["rollingUpdate"]
    return KubernetesScale(
        workers=int(config["GUNICORN_WORKERS"]),
        pool=int(config["DB_POOL_SIZE"]),
        overflow=int(config["DB_MAX_OVERFLOW"]),
        min_pods=autoscaler["minReplicas"],
        max_pods=autoscaler["maxReplicas"],
        surge=rollout["maxSurge"],
    )


def test_the_table_has_the_shipped_deployments() -> None:
    """The table covers compose on 2 and 4 CPUs and the Kubernetes production overlay."""
    assert set(sizing_table()) == {
        "compose, 2 CPUs, defaults",
        "compose, 4 CPUs, defaults",
        "Kubernetes production overlay",
    }


@pytest.mark.parametrize("cpus", [2, 4])
def test_compose_with_the_default_pools_fits(default_project: Path, cpus: int) -> None:
    """Compose leaves workers (2 x CPUs + 1) and pools to their defaults, and the sum fits."""
    app = compose_services(default_project)["app"]
    assert not {"GUNICORN_WORKERS", "WEB_CONCURRENCY", *POOL_SETTINGS} & set(app["environment"])
    assert "2 * available_cpus() + 1" in (default_project / "gunicorn.conf.py").read_text()
    config = default_project / "src" / "taskapi" / "core" / "config.py"
    pool, overflow = (int(str(settings_default(config, name))) for name in POOL_SETTINGS)
    workers = 2 * cpus + 1
    per_container = workers * (pool + overflow)
    expected_row = [
        str(workers),
        f"{pool} + {overflow}",
        str(per_container),
        "1",
        str(per_container),
    ]
    assert sizing_table()[f"compose, {cpus} CPUs, defaults"] == expected_row
    assert per_container + MIGRATION <= AVAILABLE


def test_kubernetes_at_full_scale_during_a_rollout_fits(production: KubernetesScale) -> None:
    """The autoscaler's maximum plus the surge pod, each with all its workers' pools, fits."""
    per_pod = production.workers * (production.pool + production.overflow)
    total = (production.max_pods + production.surge) * per_pod
    workers, pools, per_container, pods, at_most = sizing_table()["Kubernetes production overlay"]
    assert [workers, pools, per_container] == [
        str(production.workers),
        f"{production.pool} + {production.overflow}",
        str(per_pod),
    ]
    scale = [production.min_pods, production.max_pods, production.surge]
    assert re.findall(r"\d+", pods) == [str(n) for n in scale]
    assert at_most == str(total)
    assert total + MIGRATION <= AVAILABLE
