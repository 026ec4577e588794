#!/usr/bin/env bash
# The system packages the tests need (Debian/Ubuntu names), the first step of `make test`: installed with apt when
# run as root, otherwise the one command to install them is printed and this exits 1 (make stops there).
#   systemd  -> systemd-analyze, for `systemd-analyze verify` of the rendered user units (tests/test_service.py,
#               tests/test_service_install.py, tests/web/test_web_service.py)
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
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ci_prereqs: the tests need system packages that are missing: ${missing[*]}" >&2
    if command -v apt-get >/dev/null 2>&1; then
        echo "ci_prereqs: install them, then run make test again:" >&2
        echo "    sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    else
        echo "ci_prereqs: no apt-get here: install the equivalents with your system's package manager" >&2
    fi
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
