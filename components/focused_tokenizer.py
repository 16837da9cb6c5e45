"""Rasa's SpacyTokenizer, giving the featurizers only the question of a long message.

Why: people write stories with the question at the end ("I've been a nurse for 20 years [...] Will it
ever go away?"). Classified whole, such a message is about whatever its story mentions most; the question
is a few words among a hundred. This tokenizer keeps the tokens of the sentences that ask something
(`actions.understanding.question_sentences`, the same function the action server reads messages with), so
the intent classifier is trained and asked on the question. The spaCy doc of the whole message is left as
it is: the entity extractor and the action server's safety checks still see the whole story.

Everything else is SpacyTokenizer's own behaviour: short messages, messages that ask nothing, and the
other attributes (intent names, responses) are tokenized as Rasa does.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.spacy_tokenizer import SpacyTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from actions.understanding import READING_FILE, ReadingSettings, question_sentences


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class FocusedSpacyTokenizer(SpacyTokenizer):
    """SpacyTokenizer whose TEXT tokens are those of the message's question sentences."""

    def __init__(self, config: Dict[Text, Any]) -> None:
        super().__init__(config)
        self.settings = ReadingSettings.load()

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """The reading settings are data outside the graph: a change to them must retrain the model."""
        return ReadingSettings.load(READING_FILE).fingerprint

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        tokens = super().tokenize(message, attribute)
        doc = self._get_doc(message, attribute)
        if attribute != TEXT or doc is None or not len(doc):
            return tokens
        sentences = question_sentences(doc, self.settings)
        bounds = [(span.start_char, span.end_char) for span in sentences]
        kept = [token for token in tokens if any(start <= token.start < end for start, end in bounds)]
        return kept or tokens
