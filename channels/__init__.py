"""Input channels of the project's own (configured in credentials.yml).

The Rasa server imports this package when it loads the channels, before it builds its routes, so the
server-side changes are applied here, once, before any message is handled: the speed-ups of
`channels.speedups` and the privacy and safety changes of `channels.hardening`."""
import logging
import os

from channels import hardening, speedups

# Loading the model imports numpy.distutils, which sets the *root* logger to WARNING (through setuptools'
# distutils log), hiding every INFO line after start-up. The channels' INFO lines (rate limits reached,
# erasures, retention runs, Telegram at start) matter to whoever runs the bot, so the package's logger
# follows Rasa's own level (`rasa run` sets LOG_LEVEL).
_level = logging.getLevelName(os.environ.get("LOG_LEVEL", "INFO").upper())
logging.getLogger(__name__).setLevel(_level if isinstance(_level, int) else logging.INFO)

speedups.apply()
hardening.apply()
