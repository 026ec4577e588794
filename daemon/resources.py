"""The files shipped with the package: the default models (`models/`), the service templates (`systemd/`) and the
documented defaults (`defaults.toml`).

In a wheel, `models/` and `systemd/` sit inside the package (`daemon/models`, `daemon/systemd`: pyproject.toml's
package-dir maps the checkout's top-level folders there); run from a checkout they are found at its top level, so
no second copy is kept. Found through importlib.resources, as real files: onnxruntime and systemd need paths.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped(name: str) -> Path:
    """The shipped folder or file `name` (models, systemd, defaults.toml): inside the package, else in the checkout."""
    packaged = Path(str(resources.files("daemon"))) / name
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[1] / name
