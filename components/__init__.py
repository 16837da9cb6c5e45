"""The project's own Rasa NLU components (referenced by module path in config.yml)."""
