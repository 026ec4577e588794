#!/usr/bin/env bash
# Install pictod as a per-user service and start it (what `make install-service` runs): `pictod service install`
# of this checkout's .venv (systemd user unit on Linux, launchd agent on macOS).
#
#   tools/install_service.sh                      install and start
#   tools/install_service.sh --render-only DIR    only write the rendered units and plists into DIR
#
# Environment: PICTOD_BIN (default: this checkout's .venv/bin/pictod), PICTOD_CONFIG (default:
# ~/.config/pictod/config.toml if it exists, else the built-in defaults; `pictod init` writes one).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pictod="${PICTOD_BIN:-$repo/.venv/bin/pictod}"
if [[ ! -x "$pictod" ]]; then
    echo "install_service: $pictod not found: run \`make run\` once (it creates .venv) or set PICTOD_BIN" >&2
    exit 1
fi
exec "$pictod" service install "$@"
