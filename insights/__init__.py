"""`make insights`: a report for the clinic's content owner, read from the bot's tracker store (docs/insights.md)."""
