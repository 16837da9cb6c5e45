#!/usr/bin/env bash
# Create the project's virtual environment with a Python that Rasa 3.6 supports and install the pinned
# dependencies. Usage: scripts/setup_venv.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
python=$(scripts/find_python.sh)
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import sys; sys.exit(0 if (3, 8) <= sys.version_info[:2] <= (3, 10) else 1)'; then
  echo "Creating $venv with $python"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi
echo "Installing pinned dependencies into $venv (first time: about 2-3 minutes, 2.7 GB)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
  -r requirements.txt -c constraints.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
