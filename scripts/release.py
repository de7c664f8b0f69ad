"""Tag a release of the template: `vX.Y.Z` on HEAD, once CHANGELOG.md and pyproject.toml agree.

`copier copy` and `copier update` take the highest `vX.Y.Z` tag, so a release is a tag on a
commit whose `pyproject.toml` version is the newest dated release in CHANGELOG.md:

    python3 scripts/release.py        # tag HEAD, e.g. v0.3.0 (then push it: git push --tags)

It refuses, naming the fix, when the tree has uncommitted changes, when the two versions differ,
when the release has no date, or when the tag exists already.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
#: A release heading in CHANGELOG.md: `## [X.Y.Z] - YYYY-MM-DD`.
RELEASE_HEADING: Final = re.compile(
    r"^## \[(\d+\.\d+\.\d+)\](?: - (\d{4}-\d{2}-\d{2}))?$", re.MULTILINE
)


class ReleaseError(Exception):
    """The checkout is not ready to be tagged; the message says what to fix."""


def changelog_releases(changelog: str) -> list[tuple[str, str | None]]:
    """Return the releases in CHANGELOG.md, newest first, as (version, date or None)."""
    return [(version, date or None) for version, date in RELEASE_HEADING.findall(changelog)]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def release_tag(root: Path) -> str:
    """Return the tag that HEAD of the checkout at `root` should get, once checked it can."""
    version = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    releases = changelog_releases((root / "CHANGELOG.md").read_text())
    if not releases or releases[0][0] != version:
        newest = releases[0][0] if releases else "none"
        raise ReleaseError(
            f"pyproject.toml says {version} but the newest release in CHANGELOG.md is {newest}: "
            "make them the same version"
        )
    if releases[0][1] is None:
        raise ReleaseError(
            f"CHANGELOG.md: give [{version}] its date, `## [{version}] - YYYY-MM-DD`"
        )
    if _git(root, "status", "--porcelain"):
        msg = "the checkout has uncommitted changes: commit or stash them first"
        raise ReleaseError(msg)
    tag = f"v{version}"
    if _git(root, "tag", "--list", tag):
        raise ReleaseError(f"{tag} exists already: raise the version for a new release")
    return tag


def main(root: Path = ROOT) -> int:
    """Tag HEAD with its release, or say why not."""
    try:
        tag = release_tag(root)
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    _git(root, "tag", "--annotate", tag, "--message", f"Release {tag.removeprefix('v')}")
    print(f"tagged {tag}; publish it with: git push origin {tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
