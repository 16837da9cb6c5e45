"""Input channels of the project's own (configured in credentials.yml).

The Rasa server imports this package when it loads the channels, before it builds its routes, so the
server-side changes are applied here, once, before any message is handled: the speed-ups of
`channels.speedups` and the privacy and safety changes of `channels.hardening`."""
from channels import hardening, speedups

speedups.apply()
hardening.apply()
