"""PostgreSQL connections: every deployment the template ships fits the server's default limit.

Each gunicorn worker has its own pool of `DB_POOL_SIZE + DB_MAX_OVERFLOW` connections. The table
in docs/operations.md gives the total for compose and for Kubernetes; these tests recompute each
row from the settings, the compose file and the manifests, and check it fits in PostgreSQL's
default `max_connections` (100, of which 3 are kept for superusers) with the migration's one.
"""

from __future__ import annotations

import re
import shutil
from typing import TYPE_CHECKING, Final

import pytest

from tests.support.deploy import compose_services
from tests.support.kubernetes import ResourceId, build, by_id
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


def sizing_table() -> dict[str, list[str]]:
    """The rows of docs/operations.md's connections table, by their first cell."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("### Connections: pool sizes times workers", 1)[1].split("\n### ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in rows[2:]}


@pytest.fixture(scope="module")
def default_project(renderer: Renderer) -> Path:
    """The project rendered with every default answer (PostgreSQL, compose)."""
    return renderer.project({})


@pytest.fixture(scope="module")
def production(renderer: Renderer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The production overlay of a Kubernetes variant: its config, autoscaler and rollout."""
    variant = next(v for v in all_variants() if v.answers["use_kubernetes"])
    slug = str(variant.answers.get("project_slug", "taskapi"))
    k8s = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(renderer.project(variant.answers) / "deploy" / "k8s", k8s)
    config = k8s / "overlays" / "production" / "config"
    shutil.copy(config / "secrets.env.example", config / "secrets.env")
    resources = by_id(build(k8s / "overlays" / "production"))
    deployment = resources[ResourceId("Deployment", slug)]["spec"]
    return {
        "config": resources[ResourceId("ConfigMap", f"{slug}-config")]["data"],
        "replicas": resources[ResourceId("HorizontalPodAutoscaler", slug)]["spec"],
        "surge": deployment["strategy"]["rollingUpdate"]["maxSurge"],
    }


def test_the_table_has_the_shipped_deployments() -> None:
    """The table covers compose on 2 and 4 CPUs and the Kubernetes production overlay."""
    assert set(sizing_table()) == {
        "compose, 2 CPUs, defaults",
        "compose, 4 CPUs, defaults",
        "Kubernetes production overlay",
    }


@pytest.mark.parametrize("cpus", [2, 4])
def test_compose_with_the_default_pools_fits(default_project: Path, cpus: int) -> None:
    """compose leaves workers (2 x CPUs + 1) and pools to their defaults, and the sum fits."""
    app = compose_services(default_project)["app"]
    assert not {"GUNICORN_WORKERS", "WEB_CONCURRENCY", *POOL_SETTINGS} & set(app["environment"])
    assert "2 * available_cpus() + 1" in (default_project / "gunicorn.conf.py").read_text()
    config = default_project / "src" / "taskapi" / "core" / "config.py"
    pool, overflow = (int(str(settings_default(config, name))) for name in POOL_SETTINGS)
    workers = 2 * cpus + 1
    assert [str(workers), f"{pool} + {overflow}", str(workers * (pool + overflow)), "1"] == (
        sizing_table()[f"compose, {cpus} CPUs, defaults"][:4]
    )
    assert sizing_table()[f"compose, {cpus} CPUs, defaults"][4] == str(workers * (pool + overflow))
    assert workers * (pool + overflow) + MIGRATION <= AVAILABLE


def test_kubernetes_at_full_scale_during_a_rollout_fits(production: dict[str, object]) -> None:
    """The autoscaler's maximum plus the surge pod, each with all its workers' pools, fits."""
    config = production["config"]
    assert isinstance(config, dict)
    workers = int(config["GUNICORN_WORKERS"])
    pool, overflow = (int(config[name]) for name in POOL_SETTINGS)
    replicas = production["replicas"]
    assert isinstance(replicas, dict)
    pods = replicas["maxReplicas"] + int(str(production["surge"]))
    total = pods * workers * (pool + overflow)
    row = sizing_table()["Kubernetes production overlay"]
    assert row[:3] == [str(workers), f"{pool} + {overflow}", str(workers * (pool + overflow))]
    scale = [replicas["minReplicas"], replicas["maxReplicas"], production["surge"]]
    assert re.findall(r"\d+", row[3]) == [str(n) for n in scale]
    assert row[4] == str(total)
    assert total + MIGRATION <= AVAILABLE
