"""Releases: `vX.Y.Z` tags made by scripts/release.py, matching CHANGELOG.md, pyproject and Copier.

The script runs in a throwaway clone of this repository, so these tests tag nothing here.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import version as installed_version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from scripts.release import changelog_releases
from tests.support.tools import clean_env, run
from tests.support.update import GIT_IDENTITY, commit_all, git, template_settings
from tests.support.variants import ROOT

SCRIPT = Path("scripts", "release.py")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """Return a clone of this repository's HEAD without any of its tags."""
    repo = tmp_path / "template"
    run(["git", "clone", "--quiet", "--no-tags", str(ROOT), str(repo)], cwd=tmp_path)
    return repo


def release(repo: Path) -> subprocess.CompletedProcess[str]:
    """Run the release script of `repo` in it."""
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        cwd=repo,
        env=clean_env(**GIT_IDENTITY),
        capture_output=True,
        text=True,
        check=False,
    )


def test_release_tags_head_with_the_changelogs_newest_version(clone: Path) -> None:
    """The tag is `v` + pyproject's version, annotated, on HEAD."""
    result = release(clone)
    assert result.returncode == 0, result.stderr
    assert git("tag", "--list", cwd=clone).split() == [f"v{VERSION}"]
    assert git("rev-parse", f"v{VERSION}^{{commit}}", cwd=clone) == git(
        "rev-parse", "HEAD", cwd=clone
    )
    assert git("cat-file", "-t", f"v{VERSION}", cwd=clone).strip() == "tag"


def test_release_refuses_an_existing_tag(clone: Path) -> None:
    """A second release of the same version is refused: the version must be raised."""
    assert release(clone).returncode == 0
    again = release(clone)
    assert again.returncode == 1
    assert f"v{VERSION} exists already: raise the version" in again.stderr


def test_release_refuses_uncommitted_changes(clone: Path) -> None:
    """A release is a commit: a dirty checkout is refused, and nothing is tagged."""
    (clone / "README.md").write_text("edited\n")
    result = release(clone)
    assert result.returncode == 1
    assert "uncommitted changes: commit or stash them" in result.stderr
    assert not git("tag", "--list", cwd=clone).strip()


def test_release_refuses_a_version_the_changelog_does_not_describe(clone: Path) -> None:
    """pyproject.toml raised without a CHANGELOG entry: refused, naming both versions."""
    pyproject = clone / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(f'version = "{VERSION}"', 'version = "9.9.9"', 1)
    )
    commit_all(clone, "Raise the version only")
    result = release(clone)
    assert result.returncode == 1
    assert f"pyproject.toml says 9.9.9 but the newest release in CHANGELOG.md is {VERSION}" in (
        result.stderr
    )


def test_release_refuses_an_undated_release(clone: Path) -> None:
    """A release heading without its date is refused, showing the heading to write."""
    changelog = clone / "CHANGELOG.md"
    text = re.sub(
        rf"^## \[{re.escape(VERSION)}\] - .*$",
        f"## [{VERSION}]",
        changelog.read_text(),
        flags=re.MULTILINE,
    )
    changelog.write_text(text)
    commit_all(clone, "Undate the release")
    result = release(clone)
    assert result.returncode == 1
    assert f"`## [{VERSION}] - YYYY-MM-DD`" in result.stderr


def test_every_release_tag_in_this_checkout_is_a_changelog_release() -> None:
    """Tags and CHANGELOG.md agree: no tag without its entry, and versions only go up."""
    tags = git("tag", "--list", "v*", cwd=ROOT).split()
    versions = [v for v, _ in changelog_releases((ROOT / "CHANGELOG.md").read_text())]
    assert versions[0] == VERSION
    assert versions == sorted(versions, key=Version, reverse=True)
    assert {tag.removeprefix("v") for tag in tags} <= set(versions), tags


def test_min_copier_version_is_the_lowest_copier_this_repo_allows() -> None:
    """`_min_copier_version` is the floor of the copier requirement, and the tests run above it."""
    minimum = Version(str(template_settings()["_min_copier_version"]))
    requirement = next(
        Requirement(spec)
        for spec in PYPROJECT["dependency-groups"]["dev"]
        if Requirement(spec).name == "copier"
    )
    assert requirement.specifier == f">={minimum}"
    assert Version(installed_version("copier")) >= minimum
