"""The deployment files as written: the image's install lines, its build context, the Helm values and manifests.

No Docker daemon is needed: the Dockerfile's own `pip install` lines run in a fresh virtualenv on the build context
that .dockerignore leaves, and every module that deploy/production/dagster.yaml, the Helm values and the manifests
name is imported there."""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
import venv
from pathlib import Path

import pytest
import yaml

from ml_assets_tests.pipelines import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"


def _dockerignore_keeps(relative: str, rules: list[str]) -> bool:
    """Docker's rule: the last matching line decides; `!` re-includes; a directory pattern covers what is under it."""
    kept = True
    for rule in rules:
        negate = rule.startswith("!")
        pattern = rule[1:] if negate else rule
        pattern = pattern.rstrip("/")
        parts = relative.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        matched = any(fnmatch.fnmatchcase(p, pattern) for p in prefixes) or (
            pattern.startswith("**/") and any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts)
        )
        if matched:
            kept = negate
    return kept


def _build_context(target: Path) -> list[str]:
    """Copy what `docker build .` would send (tracked and untracked files, .dockerignore applied) into `target`."""
    rules = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    kept = []
    for relative in listed.stdout.split():
        if _dockerignore_keeps(relative, rules) and (REPO_ROOT / relative).is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_ROOT / relative, target / relative)
            kept.append(relative)
    return kept


def test_the_build_context_holds_the_package_and_nothing_local():
    rules = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for inside in (
        "pyproject.toml",
        "constraints.txt",
        "ml_assets/definitions.py",
        "ml_assets/defs/iris/defs.yaml",
        "deploy/production/dagster.yaml",
        "workspace.yaml",
    ):
        assert _dockerignore_keeps(inside, rules), inside
    for outside in (
        ".venv/bin/python",
        ".git/HEAD",
        ".stack/credentials.json",
        ".dagster_home/dagster.yaml",
        "data/warehouse/nyc_flights/model/2013-01.joblib",
        "data/mlflow/mlflow.db",
        "ml_assets_tests/conftest.py",
        "benchmarks/bench.py",
        "ml_assets/__pycache__/cli.cpython-311.pyc",
    ):
        assert not _dockerignore_keeps(outside, rules), outside
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (.+?) \S+$", dockerfile, flags=re.M)
    # no local outputs baked in
    assert not any(source.split()[0] in ("data", ".", "deploy") for source in copied), copied


def _module_of(dotted_class: str) -> str:
    return dotted_class.rsplit(".", 1)[0]


def _named_modules() -> dict[str, str]:
    """Every Python module the deployment files name, with where."""
    named = {}
    instance = yaml.safe_load((DEPLOY / "production" / "dagster.yaml").read_text())
    for key, section in instance.items():
        if isinstance(section, dict) and "module" in section:
            named[f"{section['module']}:{section['class']}"] = f"dagster.yaml {key}"
    if "postgres" in instance.get("storage", {}):
        named["dagster_postgres"] = "dagster.yaml storage.postgres"
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    # the Dagster chart's types and the modules its templates load them from (helm/dagster/templates/helpers)
    chart_modules = {
        "K8sRunLauncher": "dagster_k8s",
        "CeleryK8sRunLauncher": "dagster_celery_k8s",
        "S3ComputeLogManager": "dagster_aws.s3.compute_log_manager",
        "GCSComputeLogManager": "dagster_gcp.gcs.compute_log_manager",
        "AzureBlobComputeLogManager": "dagster_azure.blob.compute_log_manager",
        "QueuedRunCoordinator": "dagster._core.run_coordinator",
    }
    for where, kind in (
        ("runLauncher", values["runLauncher"]["type"]),
        ("computeLogManager", values["computeLogManager"]["type"]),
        ("dagsterDaemon.runCoordinator", values["dagsterDaemon"]["runCoordinator"]["type"]),
    ):
        named[chart_modules[kind]] = f"values.yaml {where} {kind}"
    for deployment in values["dagster-user-deployments"]["deployments"]:
        args = deployment["codeServerArgs"]
        named[args[args.index("-m") + 1]] = f"values.yaml user deployment {deployment['name']}"
    for document in yaml.safe_load_all((DEPLOY / "helm" / "ml-assets.yaml").read_text()):
        for container in document.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            command = container.get("command", [])
            if command[:1] == ["celery"]:
                named[command[command.index("-A") + 1]] = f"ml-assets.yaml {document['metadata']['name']}"
            if command[:2] == ["mlflow", "server"] and "basic-auth" in command:
                named["mlflow.server.auth"] = (
                    f"ml-assets.yaml {document['metadata']['name']} (--app-name basic-auth)"
                )
    return named


def test_the_manifests_deploy_the_broker_and_give_mlflow_its_store_credentials_from_a_secret():
    documents = {
        (d["kind"], d["metadata"]["name"]): d
        for d in yaml.safe_load_all((DEPLOY / "helm" / "ml-assets.yaml").read_text())
    }
    assert {("StatefulSet", "rabbitmq"), ("Service", "rabbitmq"), ("Deployment", "mlflow")} <= set(documents)
    assert "consumer_timeout" in documents["ConfigMap", "rabbitmq-config"]["data"]["ml-assets.conf"]
    (mlflow,) = documents["Deployment", "mlflow"]["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item for item in mlflow["env"]}
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "MLFLOW_S3_ENDPOINT_URL",
        "MLFLOW_BACKEND_STORE_URI",
    ):
        assert "secretKeyRef" in env[name]["valueFrom"], name  # from a Secret, never a literal value
    rabbit_env = {
        item["name"]: item
        for item in documents["StatefulSet", "rabbitmq"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert all(
        "secretKeyRef" in rabbit_env[n]["valueFrom"]
        for n in ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS")
    )
    named = _named_modules()
    assert {
        "ml_assets.celery_app",
        "ml_assets.orchestration.launcher:ProcessCheckingRunLauncher",
        "dagster_k8s",
        "dagster_aws.s3.compute_log_manager",
        "mlflow.server.auth",
        "ml_assets.definitions",
    } <= set(named), named


@pytest.mark.slow
def test_the_images_install_lines_give_a_virtualenv_that_imports_every_module_the_deployment_names(tmp_path):
    """The Dockerfile's `RUN pip install ...` lines, run as written on the filtered build context in a fresh
    virtualenv (the image's Python, 3.11): every module named by dagster.yaml, the Helm values and the manifests
    imports, and no test server (moto) is installed."""
    context = tmp_path / "context"
    context.mkdir()
    kept = _build_context(context)
    assert "ml_assets/definitions.py" in kept and not any(
        k.startswith(("data/", "ml_assets_tests/", ".stack")) for k in kept
    )
    env_dir = tmp_path / "image-venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    dockerfile = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    installs = [
        line.split("RUN ", 1)[1]
        for line in dockerfile.splitlines()
        if line.startswith("RUN ") and "pip install" in line
    ]
    assert len(installs) == 2, installs
    for install in installs:
        for command in install.split("&&"):
            words = shlex.split(command)
            if words[:2] != ["pip", "install"]:
                continue  # useradd, chown: the image's user, not its Python
            done = (
                subprocess.run(  # as written; --no-compile only spares the test byte-compiling every package
                    [str(python), "-m", *words, "--no-compile"],
                    cwd=context,
                    capture_output=True,
                    text=True,
                    timeout=1800,
                )
            )
            assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-3000:])
    named = _named_modules()
    # as Dagster loads them: its public `dagster.core` names map to `dagster._core`, and a `module:class` is the class
    script = (
        "import importlib, sys\nfrom dagster._utils import convert_dagster_submodule_name\nfailed = []\n"
        f"for name in {sorted(named)!r}:\n"
        "    module, _, cls = name.partition(':')\n"
        "    try:\n"
        "        loaded = importlib.import_module(convert_dagster_submodule_name(module, 'private'))\n"
        "        if cls:\n"
        "            getattr(loaded, cls)\n"
        "    except Exception as error:\n"
        "        failed.append((name, repr(error)))\n"
        "print(failed)\nsys.exit(1 if failed else 0)\n"
    )
    imported = subprocess.run(
        [str(python), "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            "PATH": "/usr/bin:/bin",
            "ML_ASSETS_CELERY_BROKER_URL": "amqp://u:p@127.0.0.1:1//",
            "ML_ASSETS_CELERY_BACKEND_URL": "redis://:p@127.0.0.1:1/1",
        },
    )
    assert imported.returncode == 0, imported.stdout[-3000:]
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout.lower()
    assert "moto==" not in listed and "pytest==" not in listed  # no test server, no test tools in the image
    print(f"\n[deploy] the image's venv imports {len(named)} named modules: {sorted(named)}")


def _override_validator():
    """The chart's published schema (deploy/helm/dagster-chart/), made fit for an override file: Helm checks the chart's
    defaults merged with it, so the `required` lists the defaults fill are dropped (a type's conditional requirement,
    under `then`, stays), and the Kubernetes types, `$ref`s to kubernetesjsonschema.dev, are left unchecked
    (offline)."""
    import copy
    import json

    import jsonschema

    schema = json.loads((DEPLOY / "helm" / "dagster-chart" / "values.schema.json").read_text())

    def strip(node, under_then: bool = False):
        if isinstance(node, dict):
            if str(node.get("$ref", "")).startswith("https://kubernetesjsonschema.dev"):
                node.pop("$ref")
            if not under_then:
                node.pop("required", None)
            for key, value in node.items():
                strip(value, under_then or key == "then")
        elif isinstance(node, list):
            for value in node:
                strip(value, under_then)

    schema = copy.deepcopy(schema)
    strip(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_helm_values_are_valid_for_the_charts_published_schema():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    validator = _override_validator()
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)]
    assert errors == [], errors
    # and the check can fail: a misspelled key, a wrong type, a launcher without its config block
    import copy

    planted = copy.deepcopy(values)
    planted["dagsterWebserver"]["replicas"] = 2
    planted["dagsterDaemon"]["runRetries"]["maxRetries"] = "one"
    planted["runLauncher"]["config"] = {}
    found = {".".join(map(str, e.absolute_path)) for e in validator.iter_errors(planted)}
    assert {"dagsterWebserver", "dagsterDaemon.runRetries.maxRetries", "runLauncher.config"} <= found, found
