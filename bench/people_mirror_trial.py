"""Trial (issue 11, idea 2; not shipped): mirror test-time augmentation for low-quality faces only, measured
through bench/people_quality.py. The embedder is wrapped so that a face whose `hard_faces.quality` score is
below MIRROR_BELOW gets the normalised mean of its embedding and its mirrored aligned crop's (one more SFace run
per such face); every other face keeps its embedding. Quality is scored at scale 1.0: exact on these sets
(every photo is below the 1280 px reduced-decode side).

    MIRROR_BELOW=0.5 .venv/bin/python bench/people_mirror_trial.py --orders 2 --json --out FILE
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from daemon.analysis import hard_faces as facelib  # noqa: E402
from daemon.analysis.vision import base, transforms  # noqa: E402
from daemon.analysis.vision.base import RawFace  # noqa: E402

BELOW = float(os.environ.get("MIRROR_BELOW", "0.5"))
_real = base.FaceEmbedder.embed
counts = {"faces": 0, "mirrored": 0}


def _embed(self: base.FaceEmbedder, image: NDArray[np.uint8], faces: Sequence[RawFace]) -> NDArray[np.float32]:
    out = _real(self, image, faces)
    low = [i for i, f in enumerate(faces) if facelib.quality(image, f, 1.0).score < BELOW]
    counts["faces"] += len(faces)
    counts["mirrored"] += len(low)
    if not low:
        return out
    batch = np.ascontiguousarray(self._inputs(image, [faces[i] for i in low])[..., ::-1])  # mirrored crops
    mirrored = transforms.l2_normalize(self.session.run(None, {self.input_name: batch})[0].astype(np.float32))
    out = out.copy()
    out[low] = transforms.l2_normalize(out[low] + mirrored)
    return out


def main() -> int:
    base.FaceEmbedder.embed = _embed  # type: ignore[method-assign]
    import people_quality

    sys.argv = ["people_quality.py", *sys.argv[1:]]
    rc = people_quality.main()
    print(f"mirrored {counts['mirrored']} of {counts['faces']} faces (quality < {BELOW})", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
