"""pictod installed like a tool: the wheel built from this checkout, installed with `pip install WHEEL` (its
dependencies from the configured package index, as pipx and `uv tool install` do) into a new virtualenv outside
the checkout, then used from a temp folder with HOME in a temp dir: `pictod init FOLDER`, `scan`, `status --json`,
`people --json`, `service install --render-only`, `web` answering on loopback, `python -m daemon`.

Nothing may be read from the checkout. Every interpreter of that virtualenv runs an audit hook (a .pth file in its
site-packages installs it at start-up) that logs each file opened, folder listed or entered under the checkout
or under the installed package: every Python-level open, every import. The log must hold no checkout path, and
must hold the installed models' descriptors (the hook saw them); a control process shows it catches a checkout
read. Also: the installed default models are the shipped files, byte for byte (sha256), licences beside them.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import REPO, verify_unit
from pictod_testdata import FACE_RECOGNITION, SKIMAGE
from web_helpers import stop

AUDIT_HOOK = '''
import os, sys
_log = os.environ.get("PICTOD_AUDIT_LOG")
if _log:
    _fd = os.open(_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    _watch = tuple(p for p in os.environ.get("PICTOD_AUDIT_WATCH", "").split(os.pathsep) if p)
    _events = {"open", "os.listdir", "os.scandir", "os.chdir", "os.mkdir", "os.rename", "os.remove", "os.symlink"}

    def _pictod_audit(event, args):
        if event not in _events or not args or isinstance(args[0], int) or args[0] is None:
            return
        path = os.path.abspath(os.fsdecode(args[0]))
        if path.startswith(_watch):
            os.write(_fd, f"{os.getpid()} {event} {path}\\n".encode("utf-8", "surrogateescape"))

    sys.addaudithook(_pictod_audit)
'''


@dataclass(frozen=True)
class Installed:
    """The wheel and the virtualenv it went into, and how to run its commands as a user would."""

    wheel: Path
    venv: Path
    home: Path
    work: Path  # the folder commands run in
    audit: Path
    env: dict[str, str]

    def run(self, *args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / "pictod"), *map(str, args)], env=self.env, cwd=self.work,
                              capture_output=True, text=True, timeout=timeout)

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / "python"), "-c", code], env=self.env, cwd=self.work,
                              capture_output=True, text=True, timeout=300)

    def site_packages(self) -> Path:
        return next((self.venv / "lib").glob("python3*/site-packages"))


def checkout_files() -> list[str]:
    """What a build of this checkout would see: tracked files and new ones not ignored (no .venv, no caches);
    without git (an unpacked archive), every file but the virtualenv's, the caches and earlier builds."""
    try:
        done = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                              capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", "build", "dist", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
        return [str(p.relative_to(REPO)) for p in REPO.rglob("*")
                if p.is_file() and not skip & set(p.relative_to(REPO).parts)]
    return [name for name in done.stdout.decode().split("\0") if name and (REPO / name).is_file()]


def build_wheel(out: Path) -> Path:
    """`pip wheel` of a copy of the checkout (the build writes build/ and *.egg-info beside its sources)."""
    src = out / "src"
    for name in checkout_files():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, src / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out / "dist"),
                           str(src)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (out / "dist").glob("pictod-*.whl")
    shutil.rmtree(src)
    return wheel


def user_env(home: Path, venv: Path, audit: Path) -> dict[str, str]:
    """A user's environment: HOME in a temp dir, the venv's bin first, nothing pointing into the checkout."""
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "PICTOD", "XDG_", "VIRTUAL_ENV", "NOTIFY_SOCKET", "WATCHDOG"))}
    path = [str(venv / "bin")] + [p for p in os.environ.get("PATH", "").split(os.pathsep)
                                  if p and not Path(p).resolve().is_relative_to(REPO.resolve())]
    watch = [str(REPO), str(REPO.resolve())]
    return {**keep, "HOME": str(home), "PATH": os.pathsep.join(path), "PICTOD_AUDIT_LOG": str(audit),
            "PICTOD_AUDIT_WATCH": os.pathsep.join(watch + [str(p) for p in installed_package(venv)])}


def installed_package(venv: Path) -> list[Path]:
    return [p / "daemon" for p in (venv / "lib").glob("python3*/site-packages")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("install")
    wheel = build_wheel(base)
    venv = base / "venv"
    # The interpreter this venv was made from (not the checkout's .venv): the new venv is outside the checkout.
    python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)],
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "_pictod_audit.py").write_text(AUDIT_HOOK)
    (site / "_pictod_audit.pth").write_text("import _pictod_audit\n")
    home, work = base / "home", base / "elsewhere"
    home.mkdir()
    work.mkdir()
    audit = base / "audit.log"
    return Installed(wheel=wheel, venv=venv, home=home, work=work, audit=audit, env=user_env(home, venv, audit))


def test_wheel_carries_the_models_and_service_templates(installed: Installed) -> None:
    import zipfile

    names = set(zipfile.ZipFile(installed.wheel).namelist())
    shipped = {f"daemon/models/{p.relative_to(REPO / 'models')}" for p in (REPO / "models").rglob("*") if p.is_file()}
    assert shipped <= names and "daemon/models/licenses/AGPL-3.0.txt" in names
    assert {f"daemon/systemd/{p.name}" for p in (REPO / "systemd").iterdir()} <= names
    assert "daemon/defaults.toml" in names and "daemon/__main__.py" in names
    assert not any(n.startswith(("models/", "systemd/", "tests/", "bench/")) for n in names)


def test_installed_models_are_found_by_their_sha256(installed: Installed) -> None:
    code = """
import hashlib, json, tomllib
from daemon import config
from daemon.analysis.vision import load_models
cfg = config.load(check_folders=False)
found = {}
for role in ("objects", "faces", "embeddings"):
    descriptor = getattr(cfg.models, role)
    spec = tomllib.loads(descriptor.read_text())
    model = descriptor.parent / spec["file"]
    found[role] = {"descriptor": str(descriptor), "model": str(model), "declared": spec["sha256"],
                   "sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
                   "licence": (descriptor.parent / spec["licence"]["file"]).is_file()}
load_models(cfg.models, workers=1)  # each file sha256-checked before its session is built
print(json.dumps(found))
"""
    done = installed.python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])  # after the log lines of the loaded models
    models = installed.site_packages() / "daemon" / "models"
    for role, name in (("objects", "yolov10n.toml"), ("faces", "yunet.toml"), ("embeddings", "sface.toml")):
        entry = found[role]
        checkout_spec = tomllib.loads((REPO / "models" / name).read_text())
        assert entry["descriptor"] == str(models / name)
        assert Path(entry["model"]).parent == models and entry["licence"] is True
        assert entry["sha256"] == entry["declared"] == checkout_spec["sha256"], role


def photos_folder(base: Path) -> Path:
    folder = base / "My Photos"
    folder.mkdir()
    for src in (SKIMAGE / "astronaut.png", SKIMAGE / "chelsea.png", FACE_RECOGNITION / "obama.jpg",
                FACE_RECOGNITION / "obama2.jpg", FACE_RECOGNITION / "biden.jpg"):
        shutil.copy(src, folder / src.name)
    return folder


def test_a_user_install_works_outside_the_checkout(installed: Installed) -> None:
    photos = photos_folder(installed.work.parent)
    done = installed.run("init", photos)
    assert done.returncode == 0, done.stderr
    config_file = installed.home / ".config" / "pictod" / "config.toml"
    assert config_file.is_file() and "pictod service install" in done.stdout

    scan = installed.run("scan", "--json")
    assert scan.returncode == 0, scan.stderr[-3000:]
    summary = json.loads(scan.stdout)
    assert summary["analysed"] == 5 and summary["failed"] == 0, summary

    status = installed.run("status", "--json")
    assert status.returncode == 3, status.stderr  # no daemon running
    report = json.loads(status.stdout)
    assert report["database"] == str(installed.home / ".local" / "share" / "pictod" / "library.db")
    assert report["photos"] == 5 and report["faces"] >= 4 and report["people"] >= 1, report

    people = installed.run("people", "--json")
    assert people.returncode == 0, people.stderr
    assert max(p["faces"] for p in json.loads(people.stdout)) >= 2  # obama and obama2 made one person

    out = installed.work / "units"
    rendered = installed.run("service", "install", "--render-only", out, "--json")
    assert rendered.returncode == 0, rendered.stderr
    pictod = installed.venv / "bin" / "pictod"
    assert json.loads(rendered.stdout)["command"] == [str(pictod)]
    unit = (out / "pictod.service").read_text()
    assert f'ExecStart="{pictod}" run --config "{config_file}"' in unit.splitlines()
    verify_unit(out / "pictod.service", installed.work, broken=("WatchdogSec=60", "WatchdogSec=sixty"))

    module = subprocess.run([str(installed.venv / "bin" / "python"), "-m", "daemon", "--version"],
                            env=installed.env, cwd=installed.work, capture_output=True, text=True, timeout=60)
    assert module.returncode == 0 and module.stdout.startswith("pictod ")

    web_answers_on_loopback(installed)
    assert_nothing_read_from_the_checkout(installed)


def web_answers_on_loopback(installed: Installed) -> None:
    proc = subprocess.Popen([str(installed.venv / "bin" / "pictod"), "web", "--port", "0", "--json"],
                            env=installed.env, cwd=installed.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read() if proc.stderr else ""
        url = json.loads(line)["url"]
        assert url.startswith("http://127.0.0.1:")
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        deadline = time.monotonic() + 60
        while True:
            try:
                opener.open(url, timeout=10).read()  # the token for a session cookie
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "pictod web never answered"
                time.sleep(0.2)
        page = opener.open(url.split("/?")[0] + "/people", timeout=30).read().decode()
        assert "/people/" in page  # at least one person's link
    finally:
        stop(proc)


def assert_nothing_read_from_the_checkout(installed: Installed) -> None:
    lines = installed.audit.read_text().splitlines()
    repo = (str(REPO), str(REPO.resolve()))
    from_checkout = [line for line in lines if line.split(" ", 2)[2].startswith(repo)]
    assert not from_checkout, from_checkout[:20]
    models = str(installed.site_packages() / "daemon" / "models")
    # The hook saw the reads: the installed models' descriptors and the modules imported from the installed package.
    assert any(line.endswith(f"{models}/yolov10n.toml") for line in lines), lines[:20]
    assert any("/site-packages/daemon/cli/" in line for line in lines), lines[:20]
    # The control: a read of the checkout by the same interpreter is caught.
    control = installed.python(f"open({str(REPO / 'README.md')!r}).close()")
    assert control.returncode == 0, control.stderr
    assert any(line.endswith(f"open {REPO / 'README.md'}") for line in installed.audit.read_text().splitlines())
