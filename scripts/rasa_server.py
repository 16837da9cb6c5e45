"""`rasa` with the HTTP API's token taken from the environment, never from the command line.

    RASA_TOKEN=... python scripts/rasa_server.py run --enable-api --model ... [other `rasa run` options]

`rasa run --auth-token <token>` puts the token on the command line, where every user of the machine can read
it (`ps`, /proc/<pid>/cmdline) and shell history keeps it. This launcher reads RASA_TOKEN and hands it to
Rasa's own command line in this process only, so the process's visible arguments never contain it. The
REST channel reads the same variable (channels/rest.py). Everything else is `rasa`'s command line as is.
"""
from __future__ import annotations

import os
import sys

TOKEN_ENV = "RASA_TOKEN"


def main() -> None:
    if any(argument == "--auth-token" or argument.startswith("--auth-token=") for argument in sys.argv[1:]):
        sys.exit("scripts/rasa_server.py: pass the token in RASA_TOKEN, not with --auth-token")
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        sys.argv.extend(["--auth-token", token])  # this process's argv only; /proc/<pid>/cmdline keeps the original
    from rasa.__main__ import main as rasa_main

    rasa_main()


if __name__ == "__main__":
    main()
