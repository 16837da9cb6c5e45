"""An intent classifier for long, messy messages: TF-IDF over the question's lemmas and character n-grams,
then logistic regression (`actions.understanding.intent_model`).

Why not Rasa's LogisticRegressionClassifier: it reads the CountVectorsFeaturizer's raw counts, so a long
question outweighs a short one and every repeated word counts again, and its regularisation cannot be set.
Measured on the real development questions and the held-out questions (docs/evaluation.md), TF-IDF with
sublinear counts and a weaker regularisation answered more of both. It reads the tokens the tokenizer kept
(components/focused_tokenizer.py: the question of a story), and sets `intent` and `intent_ranking` as
Rasa's classifiers do, so the FallbackClassifier and the policies work unchanged.

The model is stored as plain arrays (numbers and strings: `actions.understanding.store_model`) in one
`.npz` file read without pickle, so a model file cannot run code. It was stored with skops (as Rasa stores
its own scikit-learn classifiers), but importing skops.io took 17 s of every Rasa server's start here: it
looks up the module of each numpy function by scanning every loaded module, and TensorFlow's are many.
"""
from __future__ import annotations

import logging
import zipfile
from typing import Any, Dict, List, Optional, Text, Type

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from actions.understanding import classifier_text, intent_model, load_model, quick_to_predict, store_model

logger = logging.getLogger(__name__)

MODEL_FILE = "intent_model.npz"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfIntentClassifier(IntentClassifier, GraphComponent):
    """Intent classification over the tokens' lemmas (TF-IDF, logistic regression)."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # `stored_as` names the model file's format: part of the config, so Rasa's training cache never
        # restores a model stored in another one.
        return {"C": 30.0, "class_weight": "balanced", "char_ngrams": [2, 5], "word_ngrams": [1, 2], "min_df": 2,
                "max_iter": 2000, "ranking_length": 10, "stored_as": "arrays"}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Optional[Any] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model  # the fitted scikit-learn pipeline, as stored
        self.predictor = quick_to_predict(model) if model is not None else None

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TfidfIntentClassifier":
        return cls(config, model_storage, resource)

    @staticmethod
    def _text(message: Message) -> str:
        return classifier_text(message.get(TOKENS_NAMES[TEXT]) or [])

    def train(self, training_data: TrainingData) -> Resource:
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if len({e.get(INTENT) for e in examples}) < 2:
            logger.debug("Not training %s: fewer than two intents in the training data", type(self).__name__)
            return self._resource
        self.model = intent_model(**self._settings())
        self.model.fit([self._text(e) for e in examples], [e.get(INTENT) for e in examples])
        self.predictor = quick_to_predict(self.model)
        self.persist()
        return self._resource

    def process(self, messages: List[Message]) -> List[Message]:
        if self.predictor is None or not messages:
            return messages
        probabilities = self.predictor.predict_proba([self._text(m) for m in messages])
        classes = list(self.predictor.classes_)
        for message, row in zip(messages, probabilities):
            ranking = sorted(({"name": name, "confidence": float(p)} for name, p in zip(classes, row)),
                             key=lambda r: -r["confidence"])
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking[: int(self.config["ranking_length"])], add_to_output=True)
        return messages

    def _settings(self) -> Dict[Text, Any]:
        """intent_model's arguments, from the config."""
        return {"c": float(self.config["C"]), "class_weight": self.config["class_weight"],
                "char_ngrams": self.config["char_ngrams"], "word_ngrams": self.config["word_ngrams"],
                "min_df": int(self.config["min_df"]), "max_iter": int(self.config["max_iter"])}

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as model_dir:
            store_model(model_dir / MODEL_FILE, self.model)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "TfidfIntentClassifier":
        component = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as model_dir:
                model = load_model(model_dir / MODEL_FILE, **component._settings())
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as error:  # none trained, or broken
            logger.warning("No trained intent classifier could be loaded (%s); every message will fall back",
                           type(error).__name__)
            return component
        return cls(config, model_storage, resource, model)
