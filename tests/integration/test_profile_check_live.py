"""``./raspa profile check`` against a live portal of another family: what a person
writing a profile sees, and the first problem named by its key and page."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from local.deployment import process_env
from local.families import FamilyPortal

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "senha-ção-secreta"


@pytest.fixture(scope="module")
def aspnet() -> Iterator[FamilyPortal]:
    with FamilyPortal("aspnet", username="robo", password=PASSWORD) as portal:
        yield portal


def raspa(profile: Path, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    env = process_env(RASPA_PORTAL_USERNAME="robo", RASPA_PORTAL_PASSWORD=password)
    return subprocess.run(
        [str(ROOT / "raspa"), "profile", "check", str(profile), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def edited(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "docs" / "profiles" / "aspnet.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "meu-portal.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_a_good_profile_shows_the_pages_followed_the_matches_and_the_record(aspnet):
    profile = ROOT / "docs" / "profiles" / "aspnet.toml"
    run = raspa(profile, "--base-url", aspnet.url, "--numero", "123465")
    out = run.stdout
    assert run.returncode == 0, out + run.stderr
    # the login, the detail page and the two postbacks, each with its encoding's source
    assert "POST /Login.aspx" in out and "login form action" in out
    assert "GET  /OS/Detalhe.aspx?num=123465" in out and "cp1252 (header)" in out
    assert out.count("history postback") == 2
    assert "fields on /OS/Detalhe.aspx?num=123465:" in out and "history: 3 page(s)" in out
    assert "fields.valor" in out and '"205647.16"' in out
    assert "historico: 22 rows" in out and out.rstrip().endswith("no problem found")
    assert PASSWORD not in out + run.stderr


def test_a_label_that_is_not_on_the_page_is_named_with_the_page(aspnet, tmp_path):
    path = edited(tmp_path, 'label = "Data de abertura"', 'label = "Aberta em"')
    run = raspa(path, "--base-url", aspnet.url, "--numero", "123465")
    assert run.returncode == 1
    assert run.stdout.rstrip().endswith(
        "problem: fields.data_abertura: selector matched nothing (or not a value of its "
        "type) on /OS/Detalhe.aspx?num=123465"
    )


def test_the_wrong_button_is_named(aspnet, tmp_path):
    path = edited(tmp_path, 'submit = "ctl00$Main$btnEntrar"', 'submit = "btnEntrar"')
    run = raspa(path, "--base-url", aspnet.url, "--numero", "123465")
    assert run.returncode == 1
    assert "problem: login.submit: matched nothing on /Login.aspx" in run.stdout


def test_a_refused_login_is_diagnosed_without_showing_the_password(aspnet):
    profile = ROOT / "docs" / "profiles" / "aspnet.toml"
    run = raspa(profile, "--base-url", aspnet.url, "--numero", "123465", password="errada-123")
    assert run.returncode == 1
    assert "problem: login: the portal refused the login" in run.stdout
    assert "errada-123" not in run.stdout + run.stderr


def test_an_unknown_os_is_told_as_the_portals_answer(aspnet):
    profile = ROOT / "docs" / "profiles" / "aspnet.toml"
    run = raspa(profile, "--base-url", aspnet.url, "--numero", "950000")
    assert run.returncode == 1
    assert "the portal says OS 950000 does not exist" in run.stdout
    assert "/OS/Consulta.aspx" in run.stdout


def test_the_command_runs_with_the_projects_python_from_any_folder(tmp_path):
    run = subprocess.run(
        [str(ROOT / "raspa"), "profile", "check", str(ROOT / "docs" / "profiles" / "php.toml")],
        cwd=tmp_path,
        env=process_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # the script finds the project's interpreter and modules itself
    assert run.returncode == 0 and "valid (format version 1" in run.stdout, run.stderr
