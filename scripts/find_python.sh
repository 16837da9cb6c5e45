#!/usr/bin/env bash
# Print the path of a Python that Rasa 3.6 supports (3.10, else 3.9 or 3.8): $PYTHON if set,
# then python3.10/3.9/3.8 on PATH (checked by running them: pyenv shims exist but may not work),
# then pyenv's installed versions. Exits 1 with a clear message if there is none.
set -u
works() { "$1" -c 'import sys; sys.exit(0 if (3, 8) <= sys.version_info[:2] <= (3, 10) else 1)' >/dev/null 2>&1; }
for candidate in ${PYTHON:-} python3.10 python3.9 python3.8; do
  if command -v "$candidate" >/dev/null 2>&1 && works "$candidate"; then
    "$candidate" -c 'import sys; print(sys.executable)'; exit 0
  fi
done
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for minor in 10 9 8; do
    for version in $(pyenv versions --bare 2>/dev/null | grep -E "^3\.${minor}(\.[0-9]+)?$" | sort -t. -k3 -n -r); do
      candidate="$root/versions/$version/bin/python"
      if works "$candidate"; then echo "$candidate"; exit 0; fi
    done
  done
fi
echo "No Python 3.8-3.10 found (Rasa 3.6 needs one). Install Python 3.10 (e.g. 'pyenv install 3.10') or set PYTHON=/path/to/python3.10." >&2
exit 1
