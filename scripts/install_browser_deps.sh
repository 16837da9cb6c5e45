#!/usr/bin/env bash
# What the website and its browser test need, installed only when missing (quick when all is there):
#   browser  Debian's chromium and its matching chromedriver (apt; needs root, or passwordless sudo);
#   web      the widget's npm packages in web/node_modules (`npm ci` from web/package-lock.json).
# Usage: scripts/install_browser_deps.sh [browser] [web]   (no argument: both)
# No browser is downloaded from anywhere but Debian's archive. Exits non-zero with a message when
# something can't be installed; tests/test_webchat.py skips with that message if it is the browser.
set -euo pipefail
cd "$(dirname "$0")/.."
parts=${*:-browser web}

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}

apt_install() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "install_browser_deps: need root (or passwordless sudo) to apt-get install $*" >&2; return 1
    fi
  fi
  if ! command -v apt-get >/dev/null; then
    echo "install_browser_deps: no apt-get on this machine; install $* by hand" >&2; return 1
  fi
  # Other jobs may hold the dpkg lock for a while: wait for it instead of failing.
  local opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
  echo "install_browser_deps: apt-get install $*"
  $sudo apt-get "${opts[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get "${opts[@]}" install -y -qq --no-install-recommends "$@"
}

if [[ " $parts " == *" browser "* ]] && { [ ! -x "$CHROMIUM" ] || [ ! -x "$CHROMEDRIVER" ]; }; then
  apt_install chromium chromium-driver fonts-dejavu-core   # a font, so screenshots show text
fi

if [[ " $parts " == *" web "* ]] && { [ ! -f web/node_modules/rasa-webchat/lib/index.js ] \
   || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; }; then
  if ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
  echo "install_browser_deps: npm ci in web/"
  # --include=dev: axe-core, the accessibility checker of the browser test, even where NODE_ENV=production
  (cd web && npm ci --no-audit --no-fund --include=dev)
fi
