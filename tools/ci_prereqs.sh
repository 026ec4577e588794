#!/usr/bin/env bash
# System packages the daemon tests need, installed only when missing (Debian/Ubuntu, run as root in CI):
#   systemd  -> systemd-analyze, for `systemd-analyze verify` of the rendered user unit (tests/test_service.py)
#   libimage-exiftool-perl, exiv2 -> exiftool and exiv2, the third-party XMP writers and readers the metadata
#              interop tests run against (tests/metadata/)
#   chromium, chromium-driver -> the real-browser tests of `pictod web` (tests/web/test_web_browser.py: selenium
#                                drives /usr/bin/chromium through /usr/bin/chromedriver, nothing is downloaded)
# The tests that use them fail (never skip) without them; everything else needs only the virtualenv.
set -euo pipefail
missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v exiftool >/dev/null 2>&1 || missing+=(libimage-exiftool-perl)
command -v exiv2 >/dev/null 2>&1 || missing+=(exiv2)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "ci_prereqs: missing ${missing[*]} (install with: sudo apt-get install ${missing[*]})" >&2
        exit 0
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
