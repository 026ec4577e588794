"""Export YOLOv10n (COCO-80) to ONNX with its one-to-many head, batch, height and width dynamic.

Run only inside the throwaway venv made by tools/export_models.sh: it loads a pickled PyTorch checkpoint,
which the daemon itself never does. Usage: python export_yolo.py CHECKPOINT.pt OUT.onnx
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import onnx
from ultralytics import YOLO


def main() -> None:
    checkpoint, out = Path(sys.argv[1]), Path(sys.argv[2])
    model = YOLO(str(checkpoint))
    # nms=None keeps the one-to-many head: output [B, 84, 8400], the YOLOv8 layout, decoded with our own NMS.
    exported = Path(model.export(format="onnx", imgsz=640, opset=17, dynamic=True, simplify=True, nms=None))
    graph = onnx.load(str(exported))
    # Batch, height and width stay free: pictod letterboxes each photo to the smallest multiple of 32 that
    # holds it (640x480 for 4:3), and the head computes its anchors from the shape it is given. The names are
    # set here so that they do not depend on the exporter's version.
    for value in list(graph.graph.input) + list(graph.graph.output):
        dims = value.type.tensor_type.shape.dim
        dims[0].dim_param = "batch"
        if value.name == "images":
            for i, name in ((2, "height"), (3, "width")):
                dims[i].ClearField("dim_value")
                dims[i].dim_param = name
        else:
            dims[1].ClearField("dim_param")
            dims[1].dim_value = 84
            dims[2].ClearField("dim_value")
            dims[2].dim_param = "anchors"
    # Intermediate shape annotations carry symbolic expressions that differ from run to run; onnxruntime
    # infers them again, and dropping them makes the export byte-for-byte reproducible.
    del graph.graph.value_info[:]
    del graph.metadata_props[:]
    graph.producer_name = "pictod tools/export_yolo.py"
    onnx.checker.check_model(graph)
    onnx.save(graph, str(out))
    if exported.resolve() != out.resolve():
        exported.unlink(missing_ok=True)
    shutil.rmtree(checkpoint.parent / "runs", ignore_errors=True)


if __name__ == "__main__":
    main()
