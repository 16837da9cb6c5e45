"""Custom actions of the plantar-fasciitis guide bot (served by `rasa run actions`)."""
