"""Storage backends for the Rasa server that Rasa itself does not ship (see docs/deployment.md)."""
