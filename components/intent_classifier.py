"""An intent classifier for long, messy messages: TF-IDF over the question's lemmas and character n-grams,
then logistic regression (`actions.understanding.intent_model`).

Why not Rasa's LogisticRegressionClassifier: it reads the CountVectorsFeaturizer's raw counts, so a long
question outweighs a short one and every repeated word counts again, and its regularisation cannot be set.
Measured on the real development questions and the held-out questions (docs/evaluation.md), TF-IDF with
sublinear counts and a weaker regularisation answered more of both. It reads the tokens the tokenizer kept
(components/focused_tokenizer.py: the question of a story), and sets `intent` and `intent_ranking` as
Rasa's classifiers do, so the FallbackClassifier and the policies work unchanged. The model is stored with
skops, as Rasa stores its own scikit-learn classifiers, trusting only the types it is known to hold.
"""
from __future__ import annotations

import logging
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

from actions.understanding import classifier_text, intent_model, quick_to_predict

logger = logging.getLogger(__name__)

MODEL_FILE = "intent_model.skops"
# What the stored model may hold besides scikit-learn's own estimators (the vectorizers' matrices).
TRUSTED_TYPES = ["scipy.sparse._csr.csr_matrix"]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TfidfIntentClassifier(IntentClassifier, GraphComponent):
    """Intent classification over the tokens' lemmas (TF-IDF, logistic regression)."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn", "skops"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"C": 30.0, "class_weight": "balanced", "char_ngrams": [2, 5], "word_ngrams": [1, 2], "min_df": 2,
                "max_iter": 2000, "ranking_length": 10}

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
        self.model = intent_model(float(self.config["C"]), self.config["class_weight"], self.config["char_ngrams"],
                                  self.config["word_ngrams"], int(self.config["min_df"]), int(self.config["max_iter"]))
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

    def persist(self) -> None:
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as model_dir:
            sio.dump(self.model, model_dir / MODEL_FILE)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "TfidfIntentClassifier":
        import skops.io as sio

        try:
            with model_storage.read_from(resource) as model_dir:
                path = model_dir / MODEL_FILE
                untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in TRUSTED_TYPES]
                if untrusted:
                    raise ValueError(f"{path} holds types that are not trusted: {untrusted}")
                model = sio.load(path, trusted=TRUSTED_TYPES)
        except (ValueError, FileNotFoundError) as error:
            logger.warning("No trained intent classifier could be loaded (%s); every message will fall back", error)
            return cls(config, model_storage, resource)
        return cls(config, model_storage, resource, model)
