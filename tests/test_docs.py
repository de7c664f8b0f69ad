"""The README and the documentation site say what the template really does.

The site is built with `mkdocs build --strict`, and the pages that describe the template's
questions, variants, settings and metrics are checked against the sources they describe: a new
question, answer, setting or metric that goes undocumented fails here.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import jinja2
import pytest
import yaml

from tests.support.expectations import expected_files
from tests.support.source import settings_fields as read_settings_fields
from tests.support.tools import clean_env, run
from tests.support.variants import ROOT, defaults, option_values, presets, questions

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.support.variants import Answers

README: Final = (ROOT / "README.md").read_text()
DOCS: Final = ROOT / "docs"
TEMPLATE: Final = ROOT / "template"
PACKAGE_DIR: Final = TEMPLATE / "src" / "{{package_name}}"
#: The slug and package name of the default answers, as the render expectations use them.
SLUG: Final = "taskapi"
#: How the variants page writes the package directory in its paths.
PACKAGE_PLACEHOLDER: Final = "<package>"
#: Labels that Prometheus adds to every series it scrapes.
TARGET_LABELS: Final = frozenset({"job", "instance"})
#: Read by gunicorn itself rather than by `gunicorn.conf.py`.
GUNICORN_OWN_VARIABLES: Final = frozenset({"GUNICORN_CMD_ARGS"})
#: PromQL's keywords, which read like metric names.
PROMQL_KEYWORDS: Final = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right"}
)


def page(name: str) -> str:
    """Return the Markdown source of one page of the site."""
    return (DOCS / name).read_text()


def table(text: str, first_header: str) -> dict[str, list[str]]:
    """Return the rows of the Markdown table whose first header is `first_header`, by first cell."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip()[1:-1].split("|")]
        rows[cells[0]] = cells
    return rows


def code_spans(text: str) -> list[str]:
    """Return the contents of the `code spans` of a piece of Markdown."""
    return re.findall(r"`([^`]+)`", text)


def fenced_blocks(text: str, language: str) -> list[str]:
    """Return the contents of the top-level fenced code blocks of `language`."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.MULTILINE | re.DOTALL)


# README ----------------------------------------------------------------------------------------


def test_readme_lists_every_question_with_its_help() -> None:
    """A new question cannot go undocumented."""
    missing = [
        name
        for name, question in questions().items()
        if f"| `{name}` |" not in README or question["help"].split(" (")[0] not in README
    ]
    assert missing == []


def test_readme_lists_every_preset() -> None:
    """Each preset file has a row in the presets table."""
    missing = [p.id for p in presets() if f"| `{p.id}` |" not in README]
    assert missing == []


def test_ci_runs_the_readme_test_command() -> None:
    """CI runs exactly the test command the README gives."""
    command = "python3 scripts/dev.py test"
    assert f"```bash\n{command}\n```" in README
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


# The site --------------------------------------------------------------------------------------


class _MkDocsLoader(yaml.SafeLoader):
    """Reads mkdocs.yml, leaving its `!!python/name:` references unresolved."""


_MkDocsLoader.add_multi_constructor(
    "tag:yaml.org,2002:python/", lambda _loader, _suffix, _node: None
)


def nav_pages() -> list[str]:
    """Return the pages of the site's navigation, in order."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_MkDocsLoader)  # noqa: S506 - a safe loader
    return [next(iter(entry.values())) for entry in config["nav"]]


def test_docs_site_builds_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict` passes: every page is in the nav, every link and anchor resolves."""
    mkdocs = Path(sys.executable).parent / "mkdocs"
    command = [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")]
    run(command, cwd=ROOT, env=clean_env(NO_MKDOCS_2_WARNING="1"), timeout=300)
    assert (tmp_path / "site" / "index.html").is_file()


def test_readme_links_every_page_of_the_site() -> None:
    """The README's documentation section links each page of the navigation."""
    missing = [name for name in nav_pages() if f"](docs/{name})" not in README]
    assert missing == []


# Questions -------------------------------------------------------------------------------------


def shown(value: object) -> str:
    """Return an answer as the pages write it: `true`/`false` for booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_questions_page_has_one_row_per_question() -> None:
    """The reference table lists every question of copier.yml, in order, and nothing else."""
    rows = table(page("questions.md"), "Question")
    assert list(rows) == [f"`{name}`" for name in questions()]


@pytest.mark.parametrize("name", list(questions()))
def test_questions_page_gives_type_default_choices_and_help(name: str) -> None:
    """A question's row carries its type, its default, every choice and its help text."""
    question = questions()[name]
    _, kind, default, choices, help_text = table(page("questions.md"), "Question")[f"`{name}`"]
    assert kind == question["type"]
    assert help_text == question["help"]
    if "{{" in shown(question["default"]):
        sources = set(re.findall(r"\w+", question["default"])) & set(questions())
        assert default.startswith("derived from")
        assert {f"`{source}`" for source in sources} <= set(re.findall(r"`\w+`", default))
    else:
        assert default == f"`{shown(question['default'])}`"
    labels = question.get("choices") or {}
    values = list(labels.values()) if isinstance(labels, dict) else list(labels)
    if question["type"] == "bool":
        values = [True, False]
    assert [f"`{shown(value)}`" for value in values] == [
        f"`{span}`" for span in code_spans(choices)
    ]
    if isinstance(labels, dict):
        assert all(f"`{value}`: {label}" in choices for label, value in labels.items())


# Variants --------------------------------------------------------------------------------------

_JINJA: Final = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - renders files, not HTML
#: Every answer the template's files and paths need, at its default.
_DEFAULT_CONTEXT: Final = {name: question["default"] for name, question in questions().items()} | {
    "project_slug": SLUG,
    "package_name": SLUG,
}


@functools.cache
def _compiled(source: str) -> jinja2.Template:
    """Return a template text, compiled once."""
    return _JINJA.from_string(source)


def render(source: str, answers: Answers) -> str:
    """Return a template text rendered with `answers` (and the defaults for the rest)."""
    return _compiled(source).render(_DEFAULT_CONTEXT | answers)


def conditional_files(answers: Answers) -> set[str]:
    """Return the files whose template path has a condition, as `answers` render them.

    Copier leaves a file out when a part of its path renders empty, as
    `{% if use_redis %}redis.py{% endif %}` does without Redis.
    """
    files: set[str] = set()
    for path in TEMPLATE.rglob("*"):
        relative = path.relative_to(TEMPLATE)
        if path.is_file() and "{%" in str(relative):
            parts = [render(part.removesuffix(".jinja"), answers) for part in relative.parts]
            if all(parts):
                files.add("/".join(parts))
    return files


def rendered_files(answers: Answers) -> set[str]:
    """Return the files `answers` render: those the render tests expect, and conditional ones."""
    expected = {path for path, present in expected_files(answers).items() if present}
    return expected | conditional_files(answers)


def compose_services(answers: Answers) -> set[str]:
    """Return the services of `compose.yaml` as `answers` render it."""
    compose = yaml.safe_load(render((TEMPLATE / "compose.yaml.jinja").read_text(), answers))
    return set(compose["services"])


def dependencies(answers: Answers) -> set[str]:
    """Return the distributions `pyproject.toml` depends on under `answers`, dev group included."""
    pyproject = tomllib.loads(render((TEMPLATE / "pyproject.toml.jinja").read_text(), answers))
    requirements = [*pyproject["project"]["dependencies"], *pyproject["dependency-groups"]["dev"]]
    return {re.split(r"[\[<>=!~; ]", requirement)[0].lower() for requirement in requirements}


ASPECTS: Final[dict[str, Callable[[Answers], set[str]]]] = {
    "Files": rendered_files,
    "Compose services": compose_services,
    "Dependencies": dependencies,
}


def variant_rows() -> list[tuple[Answers, dict[str, list[str]]]]:
    """Return the rows of the variants table: the answer each names, and its cells by header."""
    text = page("variants.md")
    header = next(line for line in text.splitlines() if line.startswith("| Answer |"))
    columns = [cell.strip() for cell in header.strip()[1:-1].split("|")]
    rows = table(text, "Answer").values()
    answers = [yaml.safe_load(code_spans(cells[0])[0]) for cells in rows]
    return [
        (answer, {column: code_spans(cell) for column, cell in zip(columns, cells, strict=True)})
        for answer, cells in zip(answers, rows, strict=True)
    ]


def test_variants_table_has_one_row_per_answer() -> None:
    """Every value of every choice question has its row, in the order of copier.yml."""
    expected = [{name: value} for name, values in option_values().items() for value in values]
    assert [answer for answer, _ in variant_rows()] == expected


def covers(listed: str, item: str) -> bool:
    """Whether a listed entry names `item`: the item itself, or a folder (`dir/`) holding it."""
    return item == listed or (listed.endswith("/") and item.startswith(listed))


@pytest.mark.parametrize("aspect", list(ASPECTS))
def test_variants_table_lists_what_each_answer_adds(aspect: str) -> None:
    """Each row names all that its answer adds over the question's other answers, and no more."""
    what = ASPECTS[aspect]
    base = defaults()
    problems = []
    for answer, cells in variant_rows():
        [(name, value)] = answer.items()
        mine = what(base | answer)
        others = [what(base | {name: other}) for other in option_values()[name] if other != value]
        added = mine - others[0].intersection(*others[1:])
        listed = [entry.replace(PACKAGE_PLACEHOLDER, SLUG) for entry in cells[aspect]]
        problems += [
            f"{answer}: {item} is not listed"
            for item in sorted(added)
            if not any(covers(entry, item) for entry in listed)
        ]
        problems += [
            f"{answer}: {entry} is not rendered"
            for entry in listed
            if not any(covers(entry, item) for item in mine)
        ]
    assert problems == []


# Operations: environment variables -------------------------------------------------------------


def settings_fields() -> set[str]:
    """Return the fields of the service's settings classes (its features' too), from the source."""
    return read_settings_fields(PACKAGE_DIR)


def gunicorn_variables() -> set[str]:
    """Return the variables `gunicorn.conf.py` reads, and the one gunicorn reads itself."""
    # The package's name is the one template expression outside a string: any name parses.
    source = (TEMPLATE / "gunicorn.conf.py.jinja").read_text()
    tree = ast.parse(source.replace("{{ package_name }}", "package"))
    read: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        function = node.func
        reader = (isinstance(function, ast.Name) and function.id in {"_env_str", "_env_int"}) or (
            isinstance(function, ast.Attribute)
            and function.attr == "get"
            and isinstance(function.value, ast.Attribute)
            and function.value.attr == "environ"
        )
        first = node.args[0]
        if reader and isinstance(first, ast.Constant) and isinstance(first.value, str):
            read.add(first.value)
    return read | GUNICORN_OWN_VARIABLES


def compose_variables() -> set[str]:
    """Return the variables `compose.yaml` interpolates."""
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (TEMPLATE / "compose.yaml.jinja").read_text()))


def tracing_variables() -> set[str]:
    """Return the OpenTelemetry variables the tracing feature names."""
    source = (
        PACKAGE_DIR / "features" / "{% if use_tracing %}tracing.py{% endif %}.jinja"
    ).read_text()
    return set(re.findall(r"\bOTEL_[A-Z_]*[A-Z]\b", source))


def documented_variables() -> dict[str, set[str]]:
    """Return the variables of the operations page's table, by the reader *Read by* names."""
    readers: dict[str, set[str]] = {}
    for first, read_by, *_ in table(page("operations.md"), "Variable").values():
        [name] = code_spans(first)
        for reader in re.findall(r"[a-z]+", read_by):
            readers.setdefault(reader, set()).add(name)
    return readers


def test_env_table_gives_the_service_exactly_the_settings_fields() -> None:
    """The variables read by the service are exactly the fields of its settings classes."""
    assert documented_variables()["service"] == settings_fields()


def test_env_table_gives_gunicorn_compose_and_tracing_exactly_what_they_read() -> None:
    """Each other reader's variables are exactly those its source reads; no reader is made up."""
    documented = documented_variables()
    assert set(documented) == {"service", "gunicorn", "compose", "tracing"}
    assert documented["gunicorn"] == gunicorn_variables()
    assert documented["compose"] == compose_variables()
    assert documented["tracing"] == tracing_variables()


# Operations: metrics and alerts ----------------------------------------------------------------


def exported_series() -> dict[str, set[str]]:
    """Return the series `features/metrics.py` exports, with the labels each one carries."""
    source = (
        PACKAGE_DIR / "features" / "{% if use_metrics %}metrics.py{% endif %}.jinja"
    ).read_text()
    tree = ast.parse(render(source, {}))
    constants = {
        target.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value, (ast.Tuple, ast.Constant))
    }
    series: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        kind = node.func.id
        if kind not in {"Counter", "Histogram", "Gauge"}:
            continue
        name_node, _, labels_node = node.args[:3]
        name: str = ast.literal_eval(name_node)
        labels = set(TARGET_LABELS) | set(
            constants[labels_node.id]
            if isinstance(labels_node, ast.Name)
            else ast.literal_eval(labels_node)
        )
        if kind == "Counter":
            series[name.removesuffix("_total") + "_total"] = labels
        elif kind == "Histogram":
            series |= {name + suffix: labels for suffix in ("_sum", "_count")}
            series[name + "_bucket"] = labels | {"le"}
        else:
            series[name] = labels
    return series


def operations_yaml() -> list[Any]:
    """Return the YAML examples of the operations page, parsed."""
    return [yaml.safe_load(block) for block in fenced_blocks(page("operations.md"), "yaml")]


def alert_expressions() -> list[str]:
    """Return the `expr` of every example alert rule."""
    return [
        rule["expr"]
        for document in operations_yaml()
        if "groups" in document
        for group in document["groups"]
        for rule in group["rules"]
    ]


def test_operations_yaml_examples_parse() -> None:
    """The compose, scrape and alert examples are valid YAML, with a scrape config among them."""
    documents = operations_yaml()
    assert len(documents) >= 3
    assert any("scrape_configs" in document for document in documents)


def test_alerts_cover_the_5xx_rate_and_latency() -> None:
    """One example alerts on the share of 5xx answers, one on a latency quantile."""
    expressions = alert_expressions()
    assert any('status=~"5' in expr and "http_requests_total" in expr for expr in expressions)
    assert any(
        "histogram_quantile" in expr and "http_request_duration_seconds_bucket" in expr
        for expr in expressions
    )


def selected_metrics(expr: str) -> list[str]:
    """Return the metric names a PromQL expression selects: no functions, keywords or labels."""
    bare = re.sub(r'"[^"]*"', " ", expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", bare)
    bare = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", bare)
    names = re.findall(r"\b([A-Za-z_:][\w:]*)\b(?!\s*\()", bare)
    return [name for name in names if name not in PROMQL_KEYWORDS]


def test_alerts_select_only_series_and_labels_the_service_exports() -> None:
    """Every metric an alert selects is exported by metrics.py, with the labels it matches on."""
    series = exported_series()
    problems = []
    for expr in alert_expressions():
        selected = selected_metrics(expr)
        problems += [] if selected else [f"{expr!r} selects no metric"]
        problems += [f"{name} is not exported" for name in selected if name not in series]
        for name, matchers in re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}", expr):
            labels = set(re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", matchers))
            problems += [
                f"{name} has no label {label}" for label in labels - series.get(name, set())
            ]
    assert problems == []


# Security page ---------------------------------------------------------------------------------


def defended_by(cell: str) -> list[tuple[Path, str]]:
    """Return the files and names of the tests in a `Test` cell (`project: ` ones: the render's)."""
    found = []
    for span in re.findall(r"`((?:project: )?tests/[^`]+?::\w+)`", cell):
        file, _, name = span.removeprefix("project: ").partition("::")
        if span.startswith("project: "):
            sources = [
                source
                for source in (TEMPLATE / "tests").iterdir()
                if re.sub(r"\{%.*?%\}", "", source.name).removesuffix(".jinja") == Path(file).name
            ]
            assert len(sources) == 1, f"no single template file renders {file}"
            found.append((sources[0], name))
        else:
            found.append((ROOT / file, name))
    return found


def test_security_page_names_a_real_test_for_every_attack() -> None:
    """Each attack on the security page names tests, and each named test exists."""
    rows = table(page("security.md"), "Attack")
    assert len(rows) >= 15
    for attack, cells in rows.items():
        tests = defended_by(cells[2])
        assert tests, f"{attack!r} names no test"
        for file, name in tests:
            assert re.search(rf"^(async )?def {name}\(", file.read_text(), re.MULTILINE), (
                f"{attack!r}: {file.name} has no test {name}"
            )
