"""Input channels of the project's own (configured in credentials.yml).

The Rasa server imports this package when it loads the channels, so the server-side fix of
`channels.speedups` is applied here, once, before any message is handled."""
from channels import speedups

speedups.apply()
