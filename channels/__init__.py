"""Input channels of the project's own (configured in credentials.yml)."""
