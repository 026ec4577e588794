"""Helpers for the web app tests: libraries built through the store's real write path from real photo files,
an in-process signed-in client, and a `pictod web` subprocess with its address."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import people_synth as synth
from harness import REPO, expect
from starlette.testclient import TestClient

from daemon.analysis import imaging
from daemon.config import ClusteringConfig, Config, FolderConfig, LibraryConfig, WebConfig
from daemon.people.manager import recluster_now
from daemon.store import Store
from daemon.types import DetectedFace, DetectedObject, PhotoAnalysis, PhotoMeta
from daemon.web.app import create_app
from daemon.web.security import Served

PORT = 8765
HOST = f"127.0.0.1:{PORT}"
ORIGIN = f"http://{HOST}"


@dataclass(frozen=True)
class Shot:
    """One photo of a built library: the source file and who (identity numbers) is in it."""

    source: Path
    who: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()
    taken_at: str | None = None
    boxes: tuple[tuple[float, float, float, float], ...] = ()  # default: side by side


@dataclass
class Built:
    """A built library: its config, photo paths in shot order, face ids per shot."""

    cfg: Config
    root: Path
    paths: list[Path]
    faces: list[list[int]] = field(default_factory=list)


def build_library(root: Path, shots: Sequence[Shot], *, recluster: bool = True, seed: int = 0) -> Built:
    """Copy the shots' files into root/photos and record each with a synthetic analysis (faces whose embeddings
    are drawn around one centre per identity), through Store.record_analysis; then a real recluster."""
    photos = root / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    db = root / "data" / "library.db"
    cfg = Config(library=LibraryConfig(folders=(FolderConfig(path=photos),), database=db),
                 web=WebConfig(thumbnail_cache_mb=16))
    centres = synth.identities(max([w for s in shots for w in s.who], default=0) + 1, seed=seed)
    rng = np.random.default_rng(seed)
    built = Built(cfg=cfg, root=root, paths=[])
    store = Store.open(db)
    try:
        for i, shot in enumerate(shots):
            dest = photos / f"{i:02d}-{shot.source.name}"
            shutil.copyfile(shot.source, dest)
            data = dest.read_bytes()
            st = dest.stat()
            vectors = synth.face_vectors(centres, np.array(shot.who, np.int64), rng) if shot.who else []
            boxes = shot.boxes or tuple((10.0 + 60 * k, 10.0, 60.0 + 60 * k, 70.0) for k in range(len(shot.who)))
            faces = tuple(DetectedFace(box=b, score=0.9 - 0.01 * k, landmarks=((0.0, 0.0),) * 5,
                                       embedding=np.asarray(v, np.float32))
                          for k, (b, v) in enumerate(zip(boxes, vectors, strict=True)))
            objects = tuple(DetectedObject(label=t, score=0.8, box=(0.0, 0.0, 50.0, 50.0)) for t in shot.tags)
            seen = imaging.decode(data, max_pixels=10**9).meta  # oriented size and format, as the analysis reads
            meta = PhotoMeta(width=seen.width, height=seen.height, format=seen.format, taken_at=shot.taken_at)
            result = store.record_analysis(str(dest), st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest(),
                                           PhotoAnalysis(meta=meta, objects=objects, faces=faces))
            built.paths.append(dest)
            built.faces.append(list(result.face_ids))
        if recluster:
            recluster_now(store, ClusteringConfig())
    finally:
        store.close()
    return built


def client(cfg: Config, cache: Path, *, login: bool = True) -> TestClient:
    """A TestClient on the app for this config, signed in with the token unless login=False."""
    app = create_app(cfg, token="the-token", served=Served.for_names(["127.0.0.1", "localhost"], PORT),
                     cookie=f"pictod_{PORT}", cache_dir=cache)
    test = TestClient(app, base_url=ORIGIN, follow_redirects=False)
    test.__enter__()  # runs the lifespan
    if login:
        response = test.get("/people?token=the-token")
        assert response.status_code == 303, response.text
    return test


def csrf_of(test: TestClient, path: str = "/people") -> str:
    """The CSRF token the pages of this session carry."""
    page = test.get(path)
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def post(test: TestClient, path: str, data: dict[str, Any] | list[tuple[str, Any]], *, csrf: str | None,
         json_reply: bool = False, headers: dict[str, str] | None = None) -> Any:
    """A same-origin form post as the page's form sends it."""
    fields = list(data.items()) if isinstance(data, dict) else list(data)
    if csrf is not None:
        fields.append(("csrf", csrf))
    sent = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin", **(headers or {})}
    if json_reply:
        sent["Accept"] = "application/json"
    form: dict[str, list[str]] = {}
    for key, value in fields:
        form.setdefault(key, []).append(str(value))
    return test.post(path, data=form, headers=sent)


def people(cfg: Config) -> list[dict[str, Any]]:
    """`pictod people --json` read in-process."""
    from daemon.library.reads import list_people

    store = Store.open(cfg.database_path)
    try:
        return [p.__dict__ for p in list_people(store)]
    finally:
        store.close()


def with_folders(cfg: Config, *folders: Path) -> Config:
    """The same config watching other folders."""
    return replace(cfg, library=replace(cfg.library, folders=tuple(FolderConfig(path=f) for f in folders)))


# ----------------------------------------------------------------------------------------------- subprocesses


def pictod(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it."""
    return subprocess.run([sys.executable, "-m", "daemon.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


def cli_json(*args: str) -> Any:
    """`pictod ... --json`, parsed."""
    done = pictod(*args, "--json")
    assert done.returncode in (0, 3), done.stderr
    return json.loads(done.stdout)


@dataclass
class WebProcess:
    """A running `pictod web`."""

    proc: subprocess.Popen[str]
    url: str  # with the token: it signs in once (a second browser needs `pictod web link`: sign_in_url)
    base: str
    stderr: Path
    config: Path | None = None
    printed_used: bool = False

    def sign_in_url(self) -> str:
        """An address that signs a new client in: the printed one the first time, then a fresh one from
        `pictod web link` (a real process), since each works once."""
        if not self.printed_used or self.config is None:
            self.printed_used = True
            return self.url
        port = self.base.rsplit(":", 1)[1]
        return str(cli_json("web", "link", "--config", str(self.config), "--port", port)["url"])


def start_web(config: Path, tmp: Path, *extra: str, env: dict[str, str] | None = None) -> WebProcess:
    """`pictod web --port 0 --json` in a subprocess (cache under tmp); waits for its address."""
    err = tmp / "web.stderr"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp / "cache"), **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "daemon.cli.main", "web", "--config", str(config), "--port", "0",
                             "--json", *extra], stdout=subprocess.PIPE, stderr=err.open("w"), text=True, cwd=REPO,
                            env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, err.read_text()
    url = json.loads(line)["url"]
    web = WebProcess(proc=proc, url=url, base=url.split("/?")[0], stderr=err, config=config)
    import urllib.request

    expect(lambda: _answers(web.base, urllib.request), timeout=60, what="pictod web answering")
    return web


def _answers(base: str, request: Any) -> bool:
    try:
        request.urlopen(base + "/static/app.css", timeout=2).read()
    except OSError:
        return False
    return True


def stop(proc: subprocess.Popen[str], timeout: float = 30) -> int:
    """SIGTERM and wait (the orderly stop); returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def iter_files(folder: Path) -> Iterator[Path]:
    """Every file below a folder."""
    yield from (p for p in folder.rglob("*") if p.is_file())


class Browserless:
    """A signed-in HTTP client of a running `pictod web` (cookies kept, posts same-origin with the CSRF token)."""

    def __init__(self, web: WebProcess) -> None:
        import http.cookiejar
        import urllib.request

        self.web = web
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.opener.open(web.sign_in_url(), timeout=30).read()
        page = self.get("/people")
        match = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert match, page[:300]
        self.csrf = match.group(1)

    def get(self, path: str) -> str:
        with self.opener.open(self.web.base + path, timeout=60) as answer:
            return str(answer.read().decode())

    def post(self, path: str, fields: dict[str, Any]) -> dict[str, Any]:
        """A correction as the page's script sends it; the JSON answer."""
        import urllib.error
        import urllib.parse
        import urllib.request

        body = urllib.parse.urlencode({**fields, "csrf": self.csrf}).encode()
        request = urllib.request.Request(self.web.base + path, data=body, method="POST", headers={
            "Origin": self.web.base, "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with self.opener.open(request, timeout=60) as answer:
                return dict(json.loads(answer.read()))
        except urllib.error.HTTPError as exc:
            return {"ok": False, "status": exc.code, **json.loads(exc.read() or b"{}")}
