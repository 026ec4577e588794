#!/usr/bin/env bash
# Install pictod as a per-user service and start it: systemd user unit on Linux, launchd agent on macOS.
#
#   tools/install_service.sh                      install and start (what `make install-service` runs)
#   tools/install_service.sh --render-only DIR    only write the rendered pictod.service and plist into DIR
#
# Environment: PICTOD_BIN (default: this checkout's .venv/bin/pictod), PICTOD_CONFIG (default:
# ~/.config/pictod/config.toml; created from the repo's config.toml, watching ~/Pictures, if missing).
#
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pictod="${PICTOD_BIN:-$repo/.venv/bin/pictod}"
config="${PICTOD_CONFIG:-$HOME/.config/pictod/config.toml}"
python="$(dirname "$pictod")/python"
render_only=""
if [[ "${1:-}" == "--render-only" ]]; then
    render_only="${2:?--render-only needs a folder}"
fi

if [[ ! -x "$pictod" ]]; then
    echo "install_service: $pictod not found: run \`make run\` once (it creates .venv) or set PICTOD_BIN" >&2
    exit 1
fi
[[ -x "$python" ]] || python="$(command -v python3)"

if [[ ! -f "$config" && -z "$render_only" ]]; then
    mkdir -p "$(dirname "$config")" "$HOME/Pictures"
    # The repo's documented defaults, with absolute model paths and ~/Pictures as the watched folder.
    sed -e "s|^folders = \\[\"photos\"\\]|folders = [\"~/Pictures\"]|" \
        -e "s|= \"models/|= \"$repo/models/|" "$repo/config.toml" > "$config"
    echo "install_service: wrote $config (watching ~/Pictures); edit it and restart the service to change"
fi

render() {  # render <kind: unit|plist> <out file> [template in systemd/]
    PICTOD_BIN_R="$pictod" PICTOD_CONFIG_R="$config" REPO_R="$repo" "$python" - "$1" "$2" "${3:-}" <<'PY'
import os, re, sys
from pathlib import Path

kind, out = sys.argv[1], Path(sys.argv[2])
template = sys.argv[3] or ("org.pictod.daemon.plist" if kind == "plist" else "pictod.service")
repo = Path(os.environ["REPO_R"])
pictod, config = os.environ["PICTOD_BIN_R"], os.path.abspath(os.environ["PICTOD_CONFIG_R"])
home = os.path.expanduser("~")

if kind == "plist":
    from xml.sax.saxutils import escape
    text = (repo / "systemd" / template).read_text()
    for key, value in (("@PICTOD@", pictod), ("@CONFIG@", config), ("@HOME@", home)):
        text = text.replace(key, escape(value))
    out.write_text(text)
    sys.exit(0)

def quote(path: str) -> str:
    # systemd: % starts a specifier, a double-quoted word may hold spaces and escaped quotes/backslashes.
    return '"' + path.replace("%", "%%").replace("\\", "\\\\").replace('"', '\\"') + '"'

writable = ["-%h/.local/share/pictod", "-%h/.local/state/pictod"]
try:
    sys.path.insert(0, str(repo))
    from daemon import config as cfgmod
    cfg = cfgmod.load(config, check_folders=False)
    extra = [cfg.database_path.parent] + ([cfg.log.file.parent] if cfg.log.file else [])
    for folder in extra:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        writable.append("-" + quote(str(folder)))
except Exception as exc:  # the unit is still valid with the defaults; say why the config was not read
    print(f"install_service: could not read {config} ({exc}); using the default data folders", file=sys.stderr)
lines = []
for line in (repo / "systemd" / template).read_text().splitlines():
    if line.startswith("ExecStart="):
        # the template's subcommand and options, with the real binary and config
        command, rest = re.fullmatch(r"ExecStart=\S+ (\S+) --config \S+(.*)", line).groups()
        line = f"ExecStart={quote(pictod)} {command} --config {quote(config)}{rest}"
    elif line.startswith("ReadWritePaths="):
        line = "ReadWritePaths=" + " ".join(dict.fromkeys(line.split("=", 1)[1].split() + writable))
    lines.append(line)
out.write_text("\n".join(lines) + "\n")
PY
}

if [[ -n "$render_only" ]]; then
    mkdir -p "$render_only"
    render unit "$render_only/pictod.service"
    render plist "$render_only/org.pictod.daemon.plist"
    render unit "$render_only/pictod-web.service" pictod-web.service
    render plist "$render_only/org.pictod.web.plist" org.pictod.web.plist
    exit 0
fi

case "$(uname -s)" in
    Linux)
        unit_dir="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
        mkdir -p "$unit_dir" "$HOME/.local/share/pictod" "$HOME/.local/state/pictod"
        render unit "$unit_dir/pictod.service"
        systemd-analyze --user verify "$unit_dir/pictod.service" || true
        systemctl --user daemon-reload
        systemctl --user enable --now pictod.service
        echo "install_service: started; follow it with: journalctl --user -u pictod -f"
        render unit "$unit_dir/pictod-web.service" pictod-web.service  # installed, not enabled
        systemctl --user daemon-reload
        echo "install_service: the review web app is installed but off: systemctl --user enable --now pictod-web"
        echo "install_service: to run without a login session: loginctl enable-linger $USER"
        ;;
    Darwin)
        agents="$HOME/Library/LaunchAgents"
        mkdir -p "$agents" "$HOME/Library/Logs"
        plist="$agents/org.pictod.daemon.plist"
        launchctl unload "$plist" 2>/dev/null || true
        render plist "$plist"
        launchctl load -w "$plist"
        echo "install_service: loaded; follow it with: tail -f ~/Library/Logs/pictod.log"
        render plist "$agents/org.pictod.web.plist" org.pictod.web.plist  # Disabled: not loaded
        echo "install_service: the review web app is installed but off: launchctl load -w $agents/org.pictod.web.plist"
        ;;
    *)
        echo "install_service: unsupported system $(uname -s): run \`pictod run\` under your service manager" >&2
        exit 1
        ;;
esac
