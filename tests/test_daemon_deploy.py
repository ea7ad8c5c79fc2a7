"""The deployment files stay in step with the code and with each other (the example config is
generated from the schema: tests/test_docs_generated.py); the unit passes `systemd-analyze
verify`; the image, the compose file and the README's `ca` helper run the daemon the way the
unit does (same user, env file, config path, stop timeout)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

from agent.config import DaemonConfig

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
EXAMPLE = DEPLOY / "costagent.example.toml"
UNIT = DEPLOY / "costagent.service"
ENV_EXAMPLE = DEPLOY / "costagent.env.example"
INSTALLED_BIN = "/opt/costagent/.venv/bin/costagent"

_KEY = re.compile(r"^\s*#?\s*([A-Za-z_][A-Za-z0-9_]*)\s*=")


def documented_keys(text: str) -> set[str]:
    """Keys written as ``key = …`` or commented out as ``# key = …``."""
    return {m.group(1) for line in text.splitlines() if (m := _KEY.match(line))}


# --- the secrets file -------------------------------------------------------------------------


def _active_env(text: str) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in text.splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )


def test_env_example_names_the_secrets() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert documented_keys(text) >= {
        "COSTAGENT_SMTP_USERNAME",
        "COSTAGENT_SMTP_PASSWORD",
        "SLACK_WEBHOOK_URL",
        "SLACK_BOT_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "COSTAGENT_DATABASE_URL",
    }
    # set (even empty) it would override the attached service account on GCE / GKE
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in _active_env(text)


def test_one_gcp_key_file_name_throughout() -> None:
    pattern = re.compile(r"/etc/costagent/(gcp-[\w-]+\.json)")
    names = {
        path.name: set(pattern.findall(path.read_text(encoding="utf-8")))
        for path in (ENV_EXAMPLE, EXAMPLE, DEPLOY / "compose.yaml", DEPLOY / "gcp-roles.md")
    }
    keys = {n for found in names.values() for n in found if "wif" not in n}
    assert keys == {"gcp-key.json"}, names


# --- systemd ----------------------------------------------------------------------------------


def unit_settings(text: str) -> dict[str, list[str]]:
    """``Key=value`` lines of a unit file (a key may repeat), comments skipped."""
    out: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        if line and line[0] not in "#;[" and "=" in line:
            key, value = line.split("=", 1)
            out[key].append(value)
    return out


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|sec|min)?", value.strip())
    assert match, f"cannot read a duration from {value!r}"
    return float(match.group(1)) * (60 if match.group(2) == "min" else 1)


def test_systemd_unit_runs_the_daemon_hardened() -> None:
    unit = unit_settings(UNIT.read_text(encoding="utf-8"))
    assert unit["ExecStart"] == [
        f"{INSTALLED_BIN} --config /etc/costagent/costagent.toml run --log-format json"
    ]
    for key, value in {
        "Type": "simple",
        "Restart": "on-failure",
        "User": "costagent",
        "EnvironmentFile": "/etc/costagent/costagent.env",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "ReadWritePaths": "/var/lib/costagent",
        "CapabilityBoundingSet": "",
    }.items():
        assert unit[key] == [value], key
    assert "@system-service" in unit["SystemCallFilter"]
    assert unit["RestrictAddressFamilies"]
    # a configuration error exits 2 (agent/cli/app.py): restarting every 30 s cannot fix it
    assert "2" in unit["RestartPreventExitStatus"][0].split()
    # SIGTERM waits daemon.stop_timeout_seconds for a job's step, then exits; systemd must not
    # SIGKILL before that (15 s > 8 s + shutdown)
    assert _seconds(unit["TimeoutStopSec"][0]) >= 15 > DaemonConfig().stop_timeout_seconds
    assert not unit.get("Documentation"), "Documentation= must name a page that exists"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    """systemd's own parser: an unknown option, a bad value or a typo in a directive prints a
    warning that this test turns into a failure. ExecStart points at this checkout's costagent,
    since verify also checks that the binary exists."""
    binary = Path(sys.executable).with_name("costagent")
    assert binary.exists(), binary
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text(encoding="utf-8").replace(INSTALLED_BIN, str(binary)))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), (
        done.stdout + done.stderr
    )


def readme_ca_helper() -> list[str]:
    """The README's ``ca()`` function body as an argv, backslash-newlines joined."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^ca\(\) \{ (.*?); \}$", readme, re.MULTILINE | re.DOTALL)
    assert match, "README: the ca() helper is gone"
    return shlex.split(match.group(1).replace("\\\n", " "))


def _run_properties(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv) if arg == "-p")


def test_readme_ca_runs_commands_as_the_unit_does() -> None:
    """`ca status` must see what the daemon sees: same user, env file, directory and config.
    The env file is read by systemd (EnvironmentFile= quoting), never sourced by a shell."""
    argv = readme_ca_helper()
    assert argv[:2] == ["sudo", "systemd-run"]
    assert {"--pipe", "--wait", "--collect", "--quiet"} <= set(argv)
    unit = unit_settings(UNIT.read_text(encoding="utf-8"))
    props = _run_properties(argv)
    for key in ("User", "Group", "EnvironmentFile", "WorkingDirectory"):
        assert [props.get(key)] == unit[key], key
    command = argv[-4:]
    assert command == [*unit["ExecStart"][0].split()[:3], "$@"]
    # the unit's own comment shows the same command, not a sudo -u that skips the env file
    comment = " ".join(
        line.lstrip("# ").rstrip("\\ ")
        for line in UNIT.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    )
    assert " ".join(argv[1:-1]) + " status" in comment


def test_ignored_copies_of_secrets() -> None:
    """The files the README's steps create next to the templates never reach a commit."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("deploy/costagent.env", "deploy/.env", "deploy/costagent.toml", "costagent.env"):
        done = subprocess.run(
            ["git", "check-ignore", "-q", path], cwd=ROOT, check=False, timeout=30
        )
        assert done.returncode == 0, f"{path} is not in .gitignore"


# --- container image and compose --------------------------------------------------------------


def dockerfile_stages(text: str) -> list[list[tuple[str, str]]]:
    """(INSTRUCTION, arguments) per stage, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n\s*",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    stages: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        instruction, _, args = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), args.strip()))
    return stages


def _env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    return dict(
        pair.split("=", 1) for op, args in stage if op == "ENV" for pair in shlex.split(args)
    )


def test_image_runs_the_daemon_non_root_with_a_status_healthcheck() -> None:
    build, final = dockerfile_stages((DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    ops = dict(final)  # the last instruction of each kind wins, as in docker
    assert ops["FROM"].startswith("python:3.11")
    assert ops["USER"] not in {"root", "0"} and not ops["USER"].startswith(("root:", "0:"))
    assert re.search(rf"useradd\b.*\b{re.escape(ops['USER'])}\b", ops["RUN"])
    assert ops["HEALTHCHECK"].startswith("--") and " CMD " in ops["HEALTHCHECK"]
    health = json.loads(ops["HEALTHCHECK"].split(" CMD ", 1)[1])
    assert health == ["costagent", "status", "--check"]
    assert json.loads(ops["ENTRYPOINT"]) == ["costagent"]
    assert json.loads(ops["CMD"]) == ["run", "--log-format", "json"]
    assert ops["STOPSIGNAL"] == "SIGTERM"
    assert _env_of(final)["COSTAGENT_CONFIG"] == "/etc/costagent/costagent.toml"
    # every package pyproject installs is copied into the build context and not docker-ignored
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    copied = {args.split()[0] for op, args in build if op == "COPY"}
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for package in packages:
        assert package in copied, f"Dockerfile does not COPY {package}"
        assert f"!{package}/" in dockerignore, f".dockerignore excludes {package}"
    assert any(op == "RUN" and 'pip install ".[postgres]"' in args for op, args in build)
    # the docker run example keeps the store and outlasts the clean SIGTERM stop
    example = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert "-v costagent-data:/var/lib/costagent" in example and "--stop-timeout 15" in example


def test_compose_waits_for_a_tcp_healthy_postgres() -> None:
    yaml = pytest.importorskip("yaml")  # pyyaml: installed with moto[server] (responses)
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    db, agent = compose["services"]["db"], compose["services"]["costagent"]

    assert db["image"].startswith("postgres:16")
    test = db["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    probe = shlex.split(test[1])
    # -h with an address: TCP. The entrypoint's init-time server listens on the socket only,
    # so a socket probe would pass before the real server accepts the agent's connections.
    assert probe[0] == "pg_isready" and "-h" in probe
    assert not probe[probe.index("-h") + 1].startswith("/")
    data_volume = next(v for v in db["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert data_volume.split(":")[0] in compose["volumes"]

    assert agent["depends_on"]["db"]["condition"] == "service_healthy"
    assert agent["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    env_files = agent["env_file"] if isinstance(agent["env_file"], list) else [agent["env_file"]]
    assert env_files == [f"./{ENV_EXAMPLE.name.removesuffix('.example')}"]
    assert agent["environment"]["COSTAGENT_DATABASE_URL"].startswith("postgresql://costagent:")
    assert "@db:5432/" in agent["environment"]["COSTAGENT_DATABASE_URL"]
    mounts = [v.split(":") for v in agent["volumes"]]
    assert ["./costagent.toml", "/etc/costagent/costagent.toml", "ro"] in mounts
    assert _seconds(agent["stop_grace_period"]) >= 15 > DaemonConfig().stop_timeout_seconds
    assert agent["read_only"] is True and agent["cap_drop"] == ["ALL"]
