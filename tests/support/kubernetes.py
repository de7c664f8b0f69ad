"""A small kustomize: exactly the features the template's `deploy/k8s` kustomizations use.

No kustomize build is installable from the registries this project reaches, so the tests render
the kustomizations here. Supported, with kustomize's meaning, and nothing else (anything more in
a kustomization is refused, so the template cannot quietly outgrow this renderer):

- `resources`: manifest files (several documents each) and directories with a kustomization;
- `namespace`: set on every resource;
- `labels` (`pairs` only; no selectors, no templates): added to each resource's own labels;
- `images`: `newName` and `newTag` of the containers whose image has that name;
- `patches`: a strategic merge patch from a file, targeting one resource by kind and name
  (maps merge; lists of named items merge by `name`; other lists are replaced);
- `configMapGenerator` / `secretGenerator`: `literals` and `envs`, `behavior` create, merge or
  replace; creating needs `generatorOptions.disableNameSuffixHash: true`, so that names carry no
  content hash and no name reference has to be rewritten.

`kubectl kustomize`, where it is installed, renders the same objects (a test compares them).
"""

from __future__ import annotations

import base64
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import yaml

if TYPE_CHECKING:
    from pathlib import Path

Resource = dict[str, Any]

_KNOWN_KEYS: Final = frozenset(
    {
        "apiVersion",
        "kind",
        "resources",
        "namespace",
        "labels",
        "images",
        "patches",
        "configMapGenerator",
        "secretGenerator",
        "generatorOptions",
    }
)
_MERGE_KEYS: Final = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}
_GENERATED_KINDS: Final = {"configMapGenerator": "ConfigMap", "secretGenerator": "Secret"}


class KustomizeError(ValueError):
    """A kustomization uses a feature this renderer does not support, or is wrong."""


@dataclass(frozen=True)
class ResourceId:
    """What identifies a resource within one build."""

    kind: str
    name: str

    @classmethod
    def of(cls, resource: Resource) -> ResourceId:
        """Return the id of `resource`."""
        return cls(str(resource["kind"]), str(resource["metadata"]["name"]))


def load_documents(path: Path) -> list[Resource]:
    """Return the non-empty YAML documents of a manifest file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def build(directory: Path) -> list[Resource]:
    """Return the resources the kustomization in `directory` renders, like `kubectl kustomize`."""
    kustomization: dict[str, Any] = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - _KNOWN_KEYS
    if unknown:
        msg = f"{directory}: unsupported kustomization fields {sorted(unknown)}"
        raise KustomizeError(msg)
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        target = directory / entry
        resources += build(target) if target.is_dir() else load_documents(target)
    resources = _generate(directory, kustomization, resources)
    for patch in kustomization.get("patches", []):
        resources = _patch(directory, patch, resources)
    for image in kustomization.get("images", []):
        for resource in resources:
            _set_image(resource, image)
    _set_metadata(directory, kustomization, resources)
    return resources


def _set_metadata(
    directory: Path, kustomization: dict[str, Any], resources: list[Resource]
) -> None:
    """Apply `labels` and `namespace` to every resource."""
    for label_set in kustomization.get("labels", []):
        if set(label_set) != {"pairs"}:
            msg = f"{directory}: labels support `pairs` only, not {sorted(label_set)}"
            raise KustomizeError(msg)
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(label_set["pairs"])
    if "namespace" in kustomization:
        for resource in resources:
            resource["metadata"]["namespace"] = kustomization["namespace"]


def _generate(
    directory: Path, kustomization: dict[str, Any], resources: list[Resource]
) -> list[Resource]:
    options = kustomization.get("generatorOptions", {})
    generators = [key for key in _GENERATED_KINDS if key in kustomization]
    creates = any(
        g.get("behavior", "create") == "create" for key in generators for g in kustomization[key]
    )
    if options not in ({}, {"disableNameSuffixHash": True}) or (creates and not options):
        msg = f"{directory}: generators need generatorOptions.disableNameSuffixHash: true only"
        raise KustomizeError(msg)
    by_id = {ResourceId.of(r): r for r in resources}
    for key in generators:
        kind = _GENERATED_KINDS[key]
        for generator in kustomization[key]:
            data = _generator_data(directory, generator)
            rid = ResourceId(kind, generator["name"])
            behavior = generator.get("behavior", "create")
            if behavior == "create":
                if rid in by_id:
                    msg = f"{directory}: {rid} already exists"
                    raise KustomizeError(msg)
                resource = _generated(kind, generator["name"], {})
                resources.append(resource)
                by_id[rid] = resource
            elif rid not in by_id:
                msg = f"{directory}: {behavior} of {rid}, which no resource defines"
                raise KustomizeError(msg)
            existing = by_id[rid]
            merged = _plain_data(existing) if behavior == "merge" else {}
            existing.clear()
            existing.update(_generated(kind, generator["name"], merged | data))
    return resources


def _generator_data(directory: Path, generator: dict[str, Any]) -> dict[str, str]:
    unknown = set(generator) - {"name", "behavior", "literals", "envs"}
    if unknown:
        msg = f"{directory}: unsupported generator fields {sorted(unknown)}"
        raise KustomizeError(msg)
    lines = list(generator.get("literals", []))
    for env in generator.get("envs", []):
        text = (directory / env).read_text()
        lines += [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    data: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if not sep:
            msg = f"{directory}: {line!r} is not KEY=VALUE"
            raise KustomizeError(msg)
        data[key] = value
    return data


def _plain_data(resource: Resource) -> dict[str, str]:
    data: dict[str, str] = resource.get("data", {})
    if resource["kind"] == "Secret":
        return {k: base64.b64decode(v).decode() for k, v in data.items()}
    return dict(data)


def _generated(kind: str, name: str, data: dict[str, str]) -> Resource:
    resource: Resource = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    if kind == "Secret":
        resource["type"] = "Opaque"
        data = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    resource["data"] = dict(sorted(data.items()))
    return resource


def _patch(directory: Path, patch: dict[str, Any], resources: list[Resource]) -> list[Resource]:
    if set(patch) != {"path", "target"} or set(patch["target"]) != {"kind", "name"}:
        msg = f"{directory}: patches need exactly `path` and a `target` of kind and name"
        raise KustomizeError(msg)
    (body,) = load_documents(directory / patch["path"])
    target = ResourceId(patch["target"]["kind"], patch["target"]["name"])
    if ResourceId.of(body) != target:
        msg = f"{directory}: the patch names {ResourceId.of(body)}, its target {target}"
        raise KustomizeError(msg)
    matches = [r for r in resources if ResourceId.of(r) == target]
    if len(matches) != 1:
        msg = f"{directory}: the patch target {target} matches {len(matches)} resources"
        raise KustomizeError(msg)
    merged = strategic_merge(matches[0], body)
    return [merged if r is matches[0] else r for r in resources]


def strategic_merge(original: Any, patch: Any, field: str = "") -> Any:  # noqa: ANN401 - YAML
    """`patch` merged into `original` as a strategic merge patch (the subset described above)."""
    if isinstance(original, dict) and isinstance(patch, dict):
        merged = dict(original)
        for key, value in patch.items():
            merged[key] = strategic_merge(original[key], value, key) if key in original else value
        return merged
    if isinstance(original, list) and isinstance(patch, list) and field in _MERGE_KEYS:
        key = _MERGE_KEYS[field]
        result = list(original)
        for item in patch:
            index = next((i for i, old in enumerate(result) if old.get(key) == item[key]), None)
            if index is None:
                result.append(item)
            else:
                result[index] = strategic_merge(result[index], item)
        return result
    return patch


def pod_spec(resource: Resource) -> dict[str, Any] | None:
    """Return the pod spec of a Deployment or Job, None for other kinds."""
    if resource["kind"] not in {"Deployment", "Job"}:
        return None
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def _set_image(resource: Resource, image: dict[str, str]) -> None:
    if set(image) - {"name", "newName", "newTag"}:
        msg = f"images support name, newName and newTag only, not {sorted(image)}"
        raise KustomizeError(msg)
    spec = pod_spec(resource)
    if spec is None:
        return
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        name, _, tag = container["image"].partition(":")
        if name == image["name"]:
            new_tag = image.get("newTag", tag)
            new_name = image.get("newName", name)
            container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def by_id(resources: list[Resource]) -> dict[ResourceId, Resource]:
    """`resources` by kind and name; a duplicate is an error."""
    index: dict[ResourceId, Resource] = {}
    for resource in resources:
        rid = ResourceId.of(resource)
        if rid in index:
            msg = f"{rid} is rendered twice"
            raise KustomizeError(msg)
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
