"""Which files each answer set renders: the table the render tests check."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.variants import Answers


def expected_files(answers: Answers) -> dict[str, bool]:
    """Map rendered paths to whether `answers` must produce them (True) or must not (False)."""
    package = f"src/{answers.get('package_name', 'taskapi')}"
    always = [
        ".copier-answers.yml",
        ".env",
        ".env.example",
        ".gitignore",
        ".python-version",
        "LICENSE",
        "README.md",
        "pyproject.toml",
        "uv.lock",
        f"{package}/__init__.py",
        f"{package}/main.py",
        f"{package}/core/config.py",
        f"{package}/core/logging.py",
        f"{package}/api/deps.py",
        f"{package}/api/router.py",
        f"{package}/api/routes/health.py",
        f"{package}/db/engine.py",
        f"{package}/middleware/request_id.py",
        f"{package}/middleware/access_log.py",
        f"{package}/services/security.py",
        f"{package}/resources.py",
        f"{package}/plugins.py",
        f"{package}/core/paths.py",
        f"{package}/models/user.py",
        f"{package}/models/task.py",
        f"{package}/schemas/tasks.py",
        f"{package}/services/tasks.py",
        f"{package}/services/users.py",
        f"{package}/api/routes/auth.py",
        f"{package}/api/routes/tasks.py",
        f"{package}/api/routes/users.py",
        "alembic.ini",
        "migrations/env.py",
        "Dockerfile",
        ".dockerignore",
        "compose.yaml",
        "gunicorn.conf.py",
        "tests/conftest.py",
        "tests/test_tasks.py",
        "tests/test_access_control.py",
        "tests/test_input_bounds.py",
        "tests/test_middleware_stack.py",
        "tests/test_task_queries.py",
        "tests/test_services.py",
        ".pre-commit-config.yaml",
        "scripts/smoke.sh",
        "scripts/backup.sh",
        f"{package}/worker.py",
        f"{package}/db/errors.py",
        "tests/test_worker.py",
        "tests/test_db_errors.py",
        f"{package}/mail/messages.py",
        f"{package}/mail/senders.py",
        f"{package}/mail/templates/password_reset.txt",
        f"{package}/mail/templates/password_reset.html",
        f"{package}/services/account_mail.py",
        f"{package}/services/account_tokens.py",
        f"{package}/api/account_mail_delivery.py",
        "tests/test_account_mail.py",
        "tests/test_password_reset.py",
        "tests/test_email_verification.py",
        "tests/smtp_fixtures.py",
    ]
    expected = dict.fromkeys(always, True)
    expected["tests/test_db_postgresql.py"] = answers.get("database", "postgresql") == "postgresql"
    expected["nginx/nginx.conf"] = expected["nginx/tls.conf"] = answers.get("use_nginx", True)
    features = {
        "redis": answers.get("use_redis", True),
        "metrics": answers.get("use_metrics", True),
        "tracing": answers.get("use_tracing", False),
        "sentry": answers.get("use_sentry", False),
    }
    for feature, wanted in features.items():
        expected[f"{package}/features/{feature}.py"] = wanted
        expected[f"tests/test_{feature}.py"] = wanted
    expected["tests/redis_fixtures.py"] = features["redis"]
    has_jobs = answers.get("background_jobs", answers.get("database", "postgresql") == "postgresql")
    expected["tests/test_job_metrics.py"] = features["metrics"] and has_jobs
    expected["tests/test_job_tracing.py"] = features["tracing"] and has_jobs
    jobs = answers.get("background_jobs", answers.get("database", "postgresql") == "postgresql")
    for path in (
        f"{package}/features/jobs.py",
        f"{package}/job_worker.py",
        f"{package}/worker_alive.py",
        f"{package}/jobs/queue.py",
        f"{package}/jobs/webhooks.py",
        f"{package}/jobs/account_mail.py",
        f"{package}/api/routes/webhooks.py",
        f"{package}/models/webhook.py",
        "migrations/versions/2026_12_07_82b9646bdf3f_background_jobs_and_webhooks.py",
        "tests/test_jobs.py",
        "tests/job_fixtures.py",
        "docs/jobs.md",
    ):
        expected[path] = jobs
    kubernetes = answers.get("use_kubernetes", False)
    k8s = "deploy/k8s"
    for path in (
        "docs/kubernetes.md",
        f"{k8s}/base/kustomization.yaml",
        f"{k8s}/base/config/kustomization.yaml",
        f"{k8s}/base/app/deployment.yaml",
        f"{k8s}/base/migrate/job.yaml",
        f"{k8s}/overlays/production/kustomization.yaml",
        f"{k8s}/overlays/production/config/secrets.env.example",
        f"{k8s}/overlays/production/migrate/kustomization.yaml",
    ):
        expected[path] = kubernetes
    background_jobs = answers.get(
        "background_jobs", answers.get("database", "postgresql") == "postgresql"
    )
    for path in (
        f"{k8s}/base/app/worker.yaml",
        f"{k8s}/base/app/worker-pdb.yaml",
        f"{k8s}/overlays/production/worker-patch.yaml",
    ):
        expected[path] = kubernetes and background_jobs
    return expected


def expected_shell_scripts(answers: Answers) -> list[str]:
    """Return the shell scripts `answers` render, sorted: each one must pass shellcheck."""
    del answers  # every variant renders the same scripts
    return ["scripts/backup.sh", "scripts/smoke.sh"]
