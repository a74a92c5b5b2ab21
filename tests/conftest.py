"""Shared fixtures: a throw-away copy of the project in its own git repo, with the
virtual environment's tools first on PATH and DVC's site cache kept out of $HOME."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", ".dvc/config", ".dvc/.gitignore")
BIN = str(Path(sys.executable).parent)


def tool_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env["DVC_SITE_CACHE_DIR"] = str(tmp_path / "dvc-site-cache")
    env["DVC_NO_ANALYTICS"] = "1"
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def make_project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Copy the pipeline files, the ``mkepipe`` sources and the ``experiments/`` links
    into a fresh git repository."""
    dest = tmp_path / "project"
    for rel in PROJECT_FILES:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    shutil.copytree(ROOT / "mkepipe", dest / "mkepipe", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "experiments", dest / "experiments", symlinks=True)  # dvc.yaml's code deps
    env = tool_env(tmp_path)
    run(["git", "init", "-q"], dest, env)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], dest, env)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], dest, env)
    return dest, env


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The pipeline files and the ``mkepipe`` sources in a fresh git repository."""
    return make_project(tmp_path)
