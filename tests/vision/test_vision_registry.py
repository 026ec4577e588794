"""Descriptors, the registry and session building: sha256 checks, unknown kinds, roles, providers, threads."""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs
from vision_data import REPO

from daemon.analysis.vision import KINDS, build_model, load_descriptor, load_models
from daemon.analysis.vision import session as session_mod
from daemon.analysis.vision.session import build_session, thread_counts
from daemon.analysis.vision.yunet import YuNetDetector
from daemon.config import ModelsConfig
from daemon.errors import ModelError

YUNET = REPO / "models" / "face_detection_yunet_2023mar.onnx"
SFACE = REPO / "models" / "face_recognition_sface_2021dec.onnx"


def write_descriptor(folder: Path, name: str, *, kind: str, role: str, file: str, sha256: str, extra: str = "") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f'kind = "{kind}"\nrole = "{role}"\nfile = "{file}"\nsha256 = "{sha256}"\ninput_size = [640, 640]\n{extra}',
        encoding="utf-8",
    )
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_shipped_descriptors_parse() -> None:
    spec = load_descriptor(REPO / "models" / "yolov10n.toml")
    assert (spec.kind, spec.role, spec.input_size, spec.labels) == ("yolo", "objects", (640, 640), "coco80")
    assert spec.path == (REPO / "models" / "yolov10n.onnx").resolve()
    assert (spec.conf, spec.iou) == (0.7, 0.5)
    assert spec.licence["name"] == "AGPL-3.0"
    sface = load_descriptor(REPO / "models" / "sface.toml")
    assert (sface.kind, sface.dim, sface.match) == ("sface", 128, 0.4)
    for name in ("yolov10n", "yunet", "sface"):
        spec = load_descriptor(REPO / "models" / f"{name}.toml")
        assert sha256_of(spec.path) == spec.sha256  # the committed files are the described ones


def test_sha256_mismatch_names_the_file(tmp_path: Path) -> None:
    copy = tmp_path / "yunet-copy.onnx"
    shutil.copyfile(YUNET, copy)
    descriptor = write_descriptor(
        tmp_path, "faces", kind="yunet", role="faces", file=copy.name, sha256=sha256_of(YUNET)
    )
    spec = load_descriptor(descriptor)
    assert isinstance(build_model(spec, ModelsConfig()), YuNetDetector)  # intact copy loads
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 mismatch") as info:
        build_model(spec, ModelsConfig())
    assert str(copy) in str(info.value)


def test_missing_model_file_and_descriptor(tmp_path: Path) -> None:
    descriptor = write_descriptor(tmp_path, "faces", kind="yunet", role="faces", file="nope.onnx", sha256="00")
    with pytest.raises(ModelError, match="model file not found") as info:
        build_model(load_descriptor(descriptor), ModelsConfig())
    assert "nope.onnx" in str(info.value)
    with pytest.raises(ModelError, match="descriptor not found"):
        load_descriptor(tmp_path / "absent.toml")


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    descriptor = write_descriptor(tmp_path, "odd", kind="resnet-magic", role="faces", file="x.onnx", sha256="00")
    with pytest.raises(ModelError, match="unknown kind 'resnet-magic'") as info:
        load_descriptor(descriptor)
    assert "yunet" in str(info.value)  # lists what is known
    assert set(KINDS) == {"yolo", "yunet", "yolov8-face", "sface", "facenet"}


def test_bad_descriptors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('kind = "yunet"\nrole = "faces"\nfile = "a.onnx"\ninput_size = [640, 640]\n', encoding="utf-8")
    with pytest.raises(ModelError, match="missing key sha256"):
        load_descriptor(path)
    path.write_text('kind = "yunet"\nrole = "faces"\nfile = "a.onnx"\nsha256 = "00"\ninput_size = [640]\n')
    with pytest.raises(ModelError, match="input_size"):
        load_descriptor(path)
    path.write_text('kind = "yunet"\nrole = "embeddings"\nfile = "a.onnx"\nsha256 = "00"\ninput_size = [640, 640]\n')
    with pytest.raises(ModelError, match="'yunet' model cannot have role 'embeddings'"):
        load_descriptor(path)
    path.write_text("kind = [\n")
    with pytest.raises(ModelError, match="not valid TOML"):
        load_descriptor(path)


def test_a_model_in_the_wrong_role_is_refused(tmp_path: Path) -> None:
    faces = write_descriptor(tmp_path, "faces", kind="yunet", role="faces", file=str(YUNET), sha256=sha256_of(YUNET))
    cfg = ModelsConfig(objects=REPO / "models" / "yolov10n.toml", faces=faces, embeddings=faces)
    with pytest.raises(ModelError, match=r"models.embeddings: .* 'yunet' model"):
        load_models(cfg)


def test_a_file_that_is_not_onnx_is_a_model_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model at all")
    descriptor = write_descriptor(tmp_path, "junk", kind="yunet", role="faces", file=junk.name, sha256=sha256_of(junk))
    with pytest.raises(ModelError, match="cannot be loaded by onnxruntime"):
        build_model(load_descriptor(descriptor), ModelsConfig())


def test_wrong_graph_for_kind_is_a_model_error(tmp_path: Path) -> None:
    # The YuNet file described as an SFace embedder: its outputs are not [batch, dim].
    descriptor = write_descriptor(
        tmp_path, "emb", kind="sface", role="embeddings", file=str(YUNET), sha256=sha256_of(YUNET), extra="dim = 128\n"
    )
    with pytest.raises(ModelError, match="does not look like a 'sface' model"):
        build_model(load_descriptor(descriptor), ModelsConfig())


def test_unavailable_provider_warns_and_falls_back(tmp_path: Path) -> None:
    descriptor = write_descriptor(
        tmp_path, "faces", kind="yunet", role="faces", file=str(YUNET), sha256=sha256_of(YUNET)
    )
    cfg = ModelsConfig(providers=("NoSuchExecutionProvider", "CPUExecutionProvider"), intra_op_threads=1)
    with capture_logs() as logs:
        model = build_model(load_descriptor(descriptor), cfg)
    assert model.session.get_providers() == ["CPUExecutionProvider"]
    warnings = [e for e in logs if e["event"] == "onnx_provider_unavailable"]
    assert warnings and warnings[0]["provider"] == "NoSuchExecutionProvider"
    built = [e for e in logs if e["event"] == "model_session_built"]
    assert built and built[0]["intra_op_threads"] == 1 and built[0]["inter_op_threads"] == 1
    options = model.session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level) == (1, 1, 3)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_thread_counts() -> None:
    cores = os.cpu_count() or 1
    assert thread_counts(ModelsConfig(intra_op_threads=0), 1) == (cores, 1)
    assert thread_counts(ModelsConfig(intra_op_threads=0), cores * 4) == (1, 1)
    assert thread_counts(ModelsConfig(intra_op_threads=3, inter_op_threads=2), 2) == (3, 2)


def test_input_size_that_contradicts_the_graph_is_refused(tmp_path: Path) -> None:
    # SFace's graph takes fixed 112x112 crops (the detectors' height and width are free).
    descriptor = write_descriptor(
        tmp_path, "emb", kind="sface", role="embeddings", file=str(SFACE), sha256=sha256_of(SFACE)
    )
    descriptor.write_text(descriptor.read_text().replace("[640, 640]", "[100, 100]"))
    with pytest.raises(ModelError, match=r"takes 112x112 images .* input_size = \[100, 100\]"):
        build_model(load_descriptor(descriptor), ModelsConfig())


def test_stride_needs_a_graph_with_free_height_and_width(tmp_path: Path) -> None:
    descriptor = write_descriptor(
        tmp_path, "emb", kind="sface", role="embeddings", file=str(SFACE), sha256=sha256_of(SFACE),
        extra="stride = 16\n",
    )
    descriptor.write_text(descriptor.read_text().replace("[640, 640]", "[112, 112]"))
    with pytest.raises(ModelError, match=r"takes a fixed image size but .* sets stride = 16"):
        build_model(load_descriptor(descriptor), ModelsConfig())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("stride = 0\n", "stride must be a positive integer"),
        ('stride = "32"\n', "stride must be a positive integer"),
        ("stride = 48\n", r"input_size \[640, 640\] must be multiples of stride = 48"),
    ],
)
def test_bad_stride_in_a_descriptor_is_refused(tmp_path: Path, extra: str, message: str) -> None:
    descriptor = write_descriptor(
        tmp_path, "faces", kind="yunet", role="faces", file=str(YUNET), sha256=sha256_of(YUNET), extra=extra
    )
    with pytest.raises(ModelError, match=message):
        load_descriptor(descriptor)


def test_yunet_stride_must_keep_its_grid(tmp_path: Path) -> None:
    # YuNet's priors sit on 8/16/32 px grids: a canvas of a multiple of 16 would misplace the coarsest one.
    descriptor = write_descriptor(
        tmp_path, "faces", kind="yunet", role="faces", file=str(YUNET), sha256=sha256_of(YUNET),
        extra="stride = 16\n",
    )
    with pytest.raises(ModelError, match="stride 16 is not a multiple of 32"):
        build_model(load_descriptor(descriptor), ModelsConfig())


def test_shipped_detectors_have_free_height_and_width() -> None:
    for name in ("yolov10n", "yunet"):
        spec = load_descriptor(REPO / "models" / f"{name}.toml")
        model = build_model(spec, ModelsConfig(intra_op_threads=1))
        assert (spec.stride, spec.pad) == (32, 0)  # issue 15: shipped after bench/model_trials.py judged it
        height, width = model.session.get_inputs()[0].shape[2:]
        assert isinstance(height, str) and isinstance(width, str)


def test_a_session_keeps_no_copy_of_its_model_file() -> None:
    # Regression: built from the file's bytes, onnxruntime kept them for the session's lifetime (to rebuild it
    # on a provider fallback): 37 MiB for SFace, 47 MiB resident in every daemon for the three shipped models.
    session = build_session(SFACE, sha256_of(SFACE), ModelsConfig())
    size = SFACE.stat().st_size
    held = [o for o in gc.get_referents(vars(session)) if isinstance(o, bytes | bytearray | memoryview)
            and len(o) >= size // 2]
    assert held == []
    assert session.get_inputs()[0].shape[1:] == [3, 112, 112]  # and it is the real, working model


def test_a_model_file_replaced_while_it_loads_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The file onnxruntime loads by path must be the file whose sha256 was checked: replaced between the check
    # and the load (the real constructor runs, then the file is swapped), the session is refused.
    copy = tmp_path / "yunet.onnx"
    shutil.copyfile(YUNET, copy)
    real = session_mod.ort.InferenceSession

    def load_then_replace(*args: Any, **kwargs: Any) -> Any:
        session = real(*args, **kwargs)
        swapped = tmp_path / "swap.onnx"
        shutil.copyfile(YUNET, swapped)
        os.replace(swapped, copy)  # same bytes, another file: what matters is that it is not the checked one
        return session

    monkeypatch.setattr(session_mod.ort, "InferenceSession", load_then_replace)
    with pytest.raises(ModelError, match="changed while it was loaded") as info:
        build_session(copy, sha256_of(YUNET), ModelsConfig())
    assert str(copy) in str(info.value)
    monkeypatch.setattr(session_mod.ort, "InferenceSession", real)
    assert build_session(copy, sha256_of(YUNET), ModelsConfig()).get_inputs()  # left alone, it loads
