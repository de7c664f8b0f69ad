"""Throwaway template releases and the projects that `copier update` moves between them.

The tests never use this repo's own tags or history. They copy the files git would track into a
new repo, tag it `v0.1.0`, make a realistic next release on top (`release_v0_2_0`) and tag that
`v0.2.0`. A project is copied from `v0.1.0`, edited the way a team edits it (`edit_as_user`),
committed, and then updated.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

import yaml

import copier
from tests.support.tools import clean_env, run
from tests.support.variants import ROOT

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.variants import Answers, Variant

FIRST: Final = "v0.1.0"
SECOND: Final = "v0.2.0"

#: Who commits in the throwaway repos; no global git configuration is needed.
GIT_IDENTITY: Final = {
    "GIT_AUTHOR_NAME": "Update Test",
    "GIT_AUTHOR_EMAIL": "update-test@example.com",
    "GIT_COMMITTER_NAME": "Update Test",
    "GIT_COMMITTER_EMAIL": "update-test@example.com",
}

# What v0.2.0 changes, as the project sees it.
NEW_SETTING: Final = "    REQUEST_TIMEOUT: float = Field(default=30.0, gt=0)"
NEW_SETTING_EXAMPLE: Final = "REQUEST_TIMEOUT=30"
NEW_GUIDE: Final = "docs/new-guide.md"
OLD_NAME: Final = "docs/deployment.md"
NEW_NAME: Final = "docs/deploying.md"
DOCS_LINE: Final = "The interactive API docs are at http://127.0.0.1:8000/docs."
TEMPLATE_DOCS_LINE: Final = (
    "The interactive API docs (Swagger UI, ReDoc) are at http://127.0.0.1:8000/docs."
)
REFERRER: Final = 'add_header Referrer-Policy "no-referrer" always;'
TEMPLATE_REFERRER: Final = 'add_header Referrer-Policy "strict-origin-when-cross-origin" always;'

#: The migration that carries the project's edited `docs/deployment.md` to its new name.
RENAME_MIGRATION: Final = f"""_migrations:
  - version: {SECOND}
    when: "{{{{ _stage == 'before' }}}}"
    command: "if [ -e {OLD_NAME} ]; then git mv {OLD_NAME} {NEW_NAME}; fi"
"""

# What the team changes in its project, after the first copy.
USER_ROUTES: Final = '''"""Projects: a resource the team added after the first copy."""

from fastapi import APIRouter

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("")
async def list_projects() -> list[str]:
    """No projects yet."""
    return []
'''
USER_INCLUDE: Final = "api_router.include_router(projects.router)"
USER_DESCRIPTION: Final = "Task tracking for the ACME platform team."
USER_CONNECT_TIMEOUT: Final = "DB_CONNECT_TIMEOUT: float = Field(default=2.0, gt=0)"
USER_DOCS_LINE: Final = "Our API docs, with examples, are at http://127.0.0.1:8000/docs."
USER_REFERRER: Final = 'add_header Referrer-Policy "same-origin" always;'
USER_DEPLOY_HEADING: Final = "## Start it (our runbook: see docs/runbook.md)"
DELETED: Final = ".env.example"
#: The SQLite file that local runs create under `data/` (git-ignored).
DATABASE: Final = "data/local.db"
DATABASE_BYTES: Final = b"SQLite format 3\x00 (the team's local data)"

#: The labels `copier update --conflict inline` puts on its conflict markers.
OURS: Final = "<<<<<<< before updating"
THEIRS: Final = ">>>>>>> after updating"


def conflict(ours: str, theirs: str) -> str:
    """Return an inline conflict as `copier update` writes it: project line, then template line."""
    return f"{OURS}\n{ours}\n=======\n{theirs}\n{THEIRS}\n"


def git(*arguments: str, cwd: Path) -> str:
    """Run git in `cwd` as the test identity; return its output."""
    return run(["git", *arguments], cwd=cwd, env=clean_env(**GIT_IDENTITY)).stdout


def commit_all(repo: Path, message: str) -> None:
    """Commit everything in `repo`, hooks and signing off."""
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "--no-verify", "--no-gpg-sign", "--message", message, cwd=repo)


def replace_once(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in `path`; fail naming the file when it is not there."""
    text = path.read_text()
    count = text.count(old)
    if count != 1:
        msg = f"expected {old!r} once in {path.name}, found it {count} times: update {__name__}"
        raise AssertionError(msg)
    path.write_text(text.replace(old, new))


def _sub_once(path: Path, pattern: str, replacement: str) -> None:
    """Substitute the one line matching `pattern` in `path`; fail naming the file otherwise."""
    text, count = re.subn(pattern, replacement, path.read_text(), flags=re.MULTILINE)
    if count != 1:
        msg = f"expected one line matching {pattern!r} in {path.name}, found {count}"
        raise AssertionError(f"{msg}: update {__name__}")
    path.write_text(text)


def copy_working_tree(dest: Path) -> None:
    """Copy this checkout's files as they are (tracked, and untracked but not ignored) to `dest`."""
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file() or source.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name, follow_symlinks=False)


def make_template_repo(dest: Path, *, with_migration: bool = True) -> Path:
    """Return a git repo of this template's working tree, tagged `v0.1.0`, with `v0.2.0` on top."""
    copy_working_tree(dest)
    git("init", "--quiet", "--initial-branch=main", cwd=dest)
    commit_all(dest, "The template as it is")
    git("tag", FIRST, cwd=dest)
    release_v0_2_0(dest, with_migration=with_migration)
    commit_all(dest, "A new setting, a stricter header, a new guide and a renamed page")
    git("tag", SECOND, cwd=dest)
    return dest


def release_v0_2_0(template: Path, *, with_migration: bool) -> None:
    """Edit `template` into the next release: a setting, header and README edits, pages."""
    source = template / "template"
    _sub_once(
        source / "src" / "{{package_name}}" / "core" / "config.py",
        r"^(    HEALTH_CHECK_TIMEOUT: .*)$",
        rf"\1\n{NEW_SETTING}",
    )
    example = source / ".env.example.jinja"
    example.write_text(
        example.read_text()
        + f"\n# Seconds a request may take before it fails.\n{NEW_SETTING_EXAMPLE}\n"
    )
    replace_once(
        source / "{% if use_nginx %}nginx{% endif %}" / "nginx.conf", REFERRER, TEMPLATE_REFERRER
    )
    replace_once(source / "README.md.jinja", DOCS_LINE, TEMPLATE_DOCS_LINE)
    (source / NEW_GUIDE).write_text("# A new guide\n\nShipped by v0.2.0 of the template.\n")
    (source / f"{OLD_NAME}.jinja").rename(source / f"{NEW_NAME}.jinja")
    if with_migration:
        _sub_once(template / "copier.yml", r"^_migrations:\n", RENAME_MIGRATION)


@dataclass(frozen=True)
class Project:
    """A project copied from a throwaway template repo and committed."""

    path: Path
    answers: Answers

    @property
    def package(self) -> str:
        """The package name its answers file records."""
        return str(self.recorded()["package_name"])

    def recorded(self) -> dict[str, object]:
        """Return the answers file, as `copier update` reads it."""
        recorded: dict[str, object] = yaml.safe_load(
            (self.path / ".copier-answers.yml").read_text()
        )
        return recorded

    def read(self, name: str) -> str:
        """Return the text of one of its files."""
        return (self.path / name).read_text()

    def update(
        self,
        ref: str | copier.VcsRef,
        *,
        conflict: Literal["inline", "rej"] = "inline",
        data: Answers | None = None,
        trust: bool = True,
    ) -> None:
        """`copier update --defaults [--trust] --conflict CONFLICT --vcs-ref REF [--data ...]`."""
        copier.run_update(
            self.path,
            data=data,
            vcs_ref=ref,
            conflict=conflict,
            defaults=True,
            overwrite=True,
            unsafe=trust,
            quiet=True,
        )

    def recopy(self, ref: str) -> None:
        """`copier recopy --force --vcs-ref REF`: a fresh render over the project, answers kept."""
        copier.run_recopy(self.path, vcs_ref=ref, defaults=True, overwrite=True, quiet=True)

    def unmerged(self) -> set[str]:
        """Return the files that git records as conflicted (both modified)."""
        listed = git("ls-files", "--unmerged", cwd=self.path)
        return {line.split("\t", 1)[1] for line in listed.splitlines()}

    def check_update(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """`copier check-update ARGUMENTS`; the caller checks the exit status."""
        return subprocess.run(
            [sys.executable, "-m", "copier", "check-update", *arguments],
            cwd=self.path,
            capture_output=True,
            text=True,
            check=False,
        )

    def diff_check(self) -> subprocess.CompletedProcess[str]:
        """`git diff HEAD --check`, which fails on leftover conflict markers."""
        return subprocess.run(
            ["git", "diff", "HEAD", "--check"],
            cwd=self.path,
            capture_output=True,
            text=True,
            check=False,
        )


def render(template: Path, dest: Path, answers: Answers, ref: str = FIRST) -> Path:
    """`copier copy --defaults --vcs-ref REF --data-file PRESET TEMPLATE DEST`."""
    copier.run_copy(str(template), dest, data=answers, vcs_ref=ref, defaults=True, quiet=True)
    return dest


def copy_project(template: Path, dest: Path, answers: Answers, ref: str = FIRST) -> Project:
    """Return a project rendered at `ref`, then `git init` and a first commit, as a team starts."""
    render(template, dest, answers, ref)
    git("init", "--quiet", "--initial-branch=main", cwd=dest)
    commit_all(dest, f"Copied from the template at {ref}")
    return Project(dest, answers)


@dataclass(frozen=True)
class Updated:
    """A project copied at v0.1.0, edited by its team, committed and updated to v0.2.0."""

    project: Project
    env_before: bytes


@dataclass
class UpdatedProjects:
    """Each preset's updated project (inline conflicts), made once per test process."""

    template: Path
    workdir: Path
    made: dict[str, Updated] = field(default_factory=dict)

    def get(self, variant: Variant) -> Updated:
        """`copier update --trust --conflict inline --vcs-ref v0.2.0` on the preset's project."""
        if variant.id not in self.made:
            project = copy_project(self.template, self.workdir / variant.id, variant.answers)
            edit_as_user(project)
            env_before = (project.path / ".env").read_bytes()
            project.update(SECOND)
            self.made[variant.id] = Updated(project, env_before)
        return self.made[variant.id]


def edit_as_user(project: Project) -> None:
    """Edit the project as a team does: changes that the next release may or may not touch too."""
    package = project.path / "src" / project.package
    (package / "api" / "routes" / "projects.py").write_text(USER_ROUTES)
    router = package / "api" / "router.py"
    _sub_once(
        router,
        rf"^from {project.package}\.api\.routes import .+$",
        _routes_import_with_projects(project.package, router),
    )
    router.write_text(router.read_text() + f"{USER_INCLUDE}\n")
    description = str(project.recorded()["description"])
    replace_once(project.path / "README.md", f"{description}.", USER_DESCRIPTION)
    _sub_once(
        package / "core" / "config.py",
        r"DB_CONNECT_TIMEOUT: float = Field\(default=[\d.]+, gt=0\)",
        USER_CONNECT_TIMEOUT,
    )
    (project.path / DELETED).unlink()
    (project.path / DATABASE).parent.mkdir(exist_ok=True)
    (project.path / DATABASE).write_bytes(DATABASE_BYTES)
    # Lines that the next release changes too.
    replace_once(project.path / "README.md", DOCS_LINE, USER_DOCS_LINE)
    if project.answers["use_nginx"]:
        replace_once(project.path / "nginx" / "nginx.conf", REFERRER, USER_REFERRER)
    replace_once(project.path / OLD_NAME, "## Start it\n", f"{USER_DEPLOY_HEADING}\n")
    commit_all(project.path, "Our changes")


def _routes_import_with_projects(package: str, router: Path) -> str:
    """Return the router's `from PACKAGE.api.routes import ...` line, `projects` added in order."""
    match = re.search(
        rf"^from {package}\.api\.routes import (.+)$", router.read_text(), re.MULTILINE
    )
    assert match is not None
    names = sorted({*match.group(1).split(", "), "projects"})
    return f"from {package}.api.routes import {', '.join(names)}"


def snapshot(project: Path, *, skip: frozenset[str]) -> dict[str, bytes]:
    """Every file of a project by relative path, outside `.git` and the names in `skip`."""
    return {
        path.relative_to(project).as_posix(): path.read_bytes()
        for path in sorted(project.rglob("*"))
        if path.is_file()
        and ".git" not in path.relative_to(project).parts
        and path.relative_to(project).as_posix() not in skip
    }


class _ConfigLoader(yaml.SafeLoader):
    """Reads copier.yml, leaving its `!include` documents unresolved."""


_ConfigLoader.add_constructor("!include", lambda _loader, _node: {})


def template_settings() -> dict[str, object]:
    """Return the `_`-prefixed settings of this repo's copier.yml."""
    documents = yaml.load_all((ROOT / "copier.yml").read_text(), Loader=_ConfigLoader)
    merged: dict[str, object] = {}
    for document in documents:
        merged |= {k: v for k, v in (document or {}).items() if k.startswith("_")}
    return merged


#: The last release whose SQLite databases reuse ids and whose tokens carry no version.
PREVIOUS_RELEASE: Final = "v0.3.1"
#: What the working tree is tagged as, on top of PREVIOUS_RELEASE.
NEXT_RELEASE: Final = "v0.3.2"


def release_commit(tag: str) -> str:
    """Return this repo's commit of release `tag`: the tag, or the commit `Release X.Y.Z`."""
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{tag}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if not found:
        found = git(
            "log", "--format=%H", "-1", f"--grep=^Release {tag.removeprefix('v')}$", cwd=ROOT
        )
    if not found.strip():
        msg = f"{tag} is not in this clone's history: fetch the tags (git fetch --tags)"
        raise AssertionError(msg)
    return found.strip()


def make_release_repo(
    dest: Path, *, previous: str = PREVIOUS_RELEASE, next_release: str = NEXT_RELEASE
) -> Path:
    """Return a git repo of this repo's release `previous`, the working tree on top as the next."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", release_commit(previous)],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    git("init", "--quiet", "--initial-branch=main", cwd=dest)
    commit_all(dest, f"The template at {previous}")
    git("tag", previous, cwd=dest)
    git("rm", "-r", "--quiet", ".", cwd=dest)
    copy_working_tree(dest)
    commit_all(dest, "The template as it is")
    git("tag", next_release, cwd=dest)
    return dest
