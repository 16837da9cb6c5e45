"""Reading a message once.

People write long stories with the question at the end ("I've had heel pain since March, I work in a
warehouse [...] What can I do?"). Every step after the NLU model (triage, the scope check, retrieval, the
two-part split, the no-diagnosis check, cautions) works on one `ParsedMessage`, made once by
`Reader.read`: the spaCy doc of the whole message (lower case, lemmas, sentences, the entity_ruler's
entities), the sentences that ask something, and which tokens stand in a negated stretch. Safety reads the
whole story; what the person asks is read from the question.

The NLU model's tokenizer (components/focused_tokenizer.py) finds the question with the same
`question_sentences`, so the classifier is trained and asked on the same part of a message.
"""
from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from actions.content import DATA_DIR, PROJECT_ROOT, KnowledgeError, read_yaml, string_list

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.matcher import PhraseMatcher
    from spacy.tokens import Doc, Span

logger = logging.getLogger(__name__)

PATTERNS_FILE = DATA_DIR / "spacy" / "entity_patterns.yml"
LEMMAS_FILE = DATA_DIR / "spacy" / "lemmas.yml"
READING_FILE = DATA_DIR / "understanding" / "reading.yml"
PIPELINE_DIR = PROJECT_ROOT / "build" / "spacy_model"
# The channels refuse messages over 2,000 characters (by default); this bounds the parse of any text.
MAX_PARSED_CHARS = 5000


def ruler_patterns(patterns_file: Path = PATTERNS_FILE) -> List[Dict[str, Any]]:
    """label -> value -> phrases as entity_ruler patterns, the canonical value as the pattern's id."""
    data = read_yaml(patterns_file)
    entities = data.get("entities") if isinstance(data, dict) else None
    if not isinstance(entities, dict) or not entities:
        raise KnowledgeError(f"{patterns_file}: expected a non-empty mapping under 'entities'")
    patterns = []
    for label, values in entities.items():
        if not isinstance(values, dict) or not values:
            raise KnowledgeError(f"{patterns_file}: entity '{label}' needs values with phrases")
        for value, phrases in values.items():
            if not isinstance(phrases, list) or not phrases:
                raise KnowledgeError(f"{patterns_file}: {label}.{value} needs a non-empty list of phrases")
            for phrase in phrases:
                patterns.append({"label": str(label), "pattern": str(phrase).lower(), "id": str(value)})
    return patterns


def lemma_corrections(lemmas_file: Path = LEMMAS_FILE) -> Dict[str, str]:
    """word -> lemma corrections to the lookup table (data/spacy/lemmas.yml)."""
    data = read_yaml(lemmas_file)
    lemmas = data.get("lemmas") if isinstance(data, dict) else None
    if not isinstance(lemmas, dict) or not all(isinstance(k, str) and isinstance(v, str) and k and v
                                               for k, v in lemmas.items()):
        raise KnowledgeError(f"{lemmas_file}: expected a mapping of words to lemmas under 'lemmas'")
    return {word.lower(): lemma.lower() for word, lemma in lemmas.items()}


def assemble_pipeline(patterns_file: Path = PATTERNS_FILE, lemmas_file: Path = LEMMAS_FILE) -> "Language":
    """The project's spaCy pipeline: blank English, lookup lemmatizer, sentencizer, entity_ruler.

    spaCy's official English models cannot be downloaded on our machines; this small pipeline is built
    from data the project keeps. scripts/build_spacy_model.py saves it for Rasa's SpacyNLP."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.add_pipe("sentencizer")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    nlp.initialize()  # loads the lemma lookup tables from spacy-lookups-data
    table = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_lookup")
    for word, lemma in lemma_corrections(lemmas_file).items():
        table[word] = lemma
    ruler.add_patterns(ruler_patterns(patterns_file))
    return nlp


def load_pipeline(path: Path = PIPELINE_DIR) -> "Language":
    """The pipeline `make spacy-model` saved (the NLU model's own), else the same one assembled here."""
    import spacy

    if (path / "meta.json").exists():
        return spacy.load(path)
    logger.info("No spaCy pipeline at %s; assembling it from %s", path, PATTERNS_FILE)
    return assemble_pipeline()


@functools.lru_cache(maxsize=1)
def _english_tokenizer() -> Any:
    """spaCy's English tokenizer, made once: a blank pipeline costs ~80 ms, and every settings load needs it."""
    import spacy

    return spacy.blank("en").tokenizer


def _phrases(values: Any, where: str) -> Tuple[Tuple[str, ...], ...]:
    """Phrases as the lower-case token sequences spaCy's English tokenizer makes of them, so that they
    compare with a message's tokens: "i'd like to know" is "i" + "'d" + ..., "whats that" is "what" + "s" +
    "that" (split on spaces, neither would ever match)."""
    tokenizer = _english_tokenizer()
    return tuple(tuple(token.lower_ for token in tokenizer(phrase)) for phrase in string_list(values, where))


@dataclass(frozen=True)
class ReadingSettings:
    """How a message is read (data/understanding/reading.yml)."""

    short_message_words: int
    asking_starts: FrozenSet[str]
    leading_joiners: FrozenSet[str]
    statement_subjects: FrozenSet[str]
    question_words: FrozenSet[str]
    negations: FrozenSet[str]
    negated_question_subjects: FrozenSet[str]
    request_phrases: Tuple[Tuple[str, ...], ...]
    subjectless_words: FrozenSet[str]
    min_subject_words: int
    filler_words: FrozenSet[str]
    pointing_starts: Tuple[Tuple[str, ...], ...]
    pointing_phrases: Tuple[Tuple[str, ...], ...]
    pointing_words: FrozenSet[str]
    referring_starts: Tuple[Tuple[str, ...], ...]
    thin_context_sentences: int
    run_on_min_words: int
    run_on_max_question_words: int
    run_on_joiners: FrozenSet[str]
    run_on_starts: Tuple[Tuple[str, ...], ...]
    negation_words: FrozenSet[str]
    negation_window: int
    clause_breaks: FrozenSet[str]
    list_words: FrozenSet[str]
    fingerprint: str

    @classmethod
    def load(cls, path: Path = READING_FILE) -> "ReadingSettings":
        data = read_yaml(path)
        question = data.get("question") if isinstance(data, dict) else None
        negation = data.get("negation") if isinstance(data, dict) else None
        run_on = question.get("run_on") if isinstance(question, dict) else None
        if not isinstance(question, dict) or not isinstance(negation, dict) or not isinstance(run_on, dict):
            raise KnowledgeError(f"{path}: expected mappings under 'question', 'question.run_on' and 'negation'")
        numbers = {"question.short_message_words": question.get("short_message_words"),
                   "question.min_subject_words": question.get("min_subject_words"),
                   "question.thin_context_sentences": question.get("thin_context_sentences"),
                   "question.run_on.min_words": run_on.get("min_words"),
                   "question.run_on.max_question_words": run_on.get("max_question_words"),
                   "negation.window": negation.get("window")}
        for key, value in numbers.items():
            if not isinstance(value, int) or value < 0:
                raise KnowledgeError(f"{path}: '{key}' must be a whole number")
        return cls(
            short_message_words=question["short_message_words"],
            asking_starts=frozenset(string_list(question.get("asking_starts"), f"{path}: question.asking_starts")),
            leading_joiners=frozenset(string_list(question.get("leading_joiners"), f"{path}: question.leading_joiners")),
            statement_subjects=frozenset(string_list(question.get("statement_subjects"), f"{path}: question.statement_subjects")),
            question_words=frozenset(string_list(question.get("question_words"), f"{path}: question.question_words")),
            negations=frozenset(string_list(question.get("negations"), f"{path}: question.negations")),
            negated_question_subjects=frozenset(string_list(question.get("negated_question_subjects"),
                                                            f"{path}: question.negated_question_subjects")),
            request_phrases=_phrases(question.get("request_phrases"), f"{path}: question.request_phrases"),
            subjectless_words=frozenset(string_list(question.get("subjectless_words"), f"{path}: question.subjectless_words")),
            min_subject_words=question["min_subject_words"],
            pointing_starts=_phrases(question.get("pointing_starts"), f"{path}: question.pointing_starts"),
            pointing_phrases=_phrases(question.get("pointing_phrases"), f"{path}: question.pointing_phrases"),
            filler_words=frozenset(string_list(question.get("filler_words"), f"{path}: question.filler_words")),
            pointing_words=frozenset(string_list(question.get("pointing_words"), f"{path}: question.pointing_words")),
            referring_starts=_phrases(question.get("referring_starts"), f"{path}: question.referring_starts"),
            thin_context_sentences=question["thin_context_sentences"],
            run_on_min_words=run_on["min_words"],
            run_on_max_question_words=run_on["max_question_words"],
            run_on_joiners=frozenset(string_list(run_on.get("joiners"), f"{path}: question.run_on.joiners")),
            run_on_starts=_phrases(run_on.get("starts"), f"{path}: question.run_on.starts"),
            negation_words=frozenset(string_list(negation.get("words"), f"{path}: negation.words")),
            negation_window=negation["window"],
            clause_breaks=frozenset(string_list(negation.get("clause_breaks"), f"{path}: negation.clause_breaks")),
            list_words=frozenset(string_list(negation.get("list_words"), f"{path}: negation.list_words")),
            fingerprint=hashlib.sha256(path.read_bytes()).hexdigest(),
        )


def _words(span: "Span") -> List[str]:
    return [token.lower_ for token in span if not token.is_punct and not token.is_space]


def _phrase_spans(words: Sequence[str], phrases: Iterable[Tuple[str, ...]]) -> Iterator[Tuple[int, int]]:
    """(start, end) of each of the phrases in the words, phrase by phrase: whether any is there needs the
    first found ("any tips" asks); what a request asks for, the earliest."""
    for phrase in phrases:
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if tuple(words[i:i + n]) == phrase:
                yield i, i + n


def _has_any(words: Sequence[str], phrases: Iterable[Tuple[str, ...]]) -> bool:
    return next(_phrase_spans(words, phrases), None) is not None


def _opening(words: Sequence[str], settings: ReadingSettings) -> Sequence[str]:
    """A sentence's words from its first that is not a joiner ("and what does it do", "so is it worth it"):
    how it starts, as a question or not."""
    start = 0
    while start < len(words) - 1 and words[start] in settings.leading_joiners:
        start += 1
    return words[start:]


def is_asking(sentence: "Span", settings: ReadingSettings) -> bool:
    """Whether a sentence asks something: a "?", a question word first, or a request ("any tips")."""
    if any(token.text == "?" for token in sentence):
        return True
    words = _words(sentence)
    if not words:
        return False
    opening = _opening(words, settings)
    if opening[0] in settings.asking_starts and not _tells(opening, settings):
        return True
    return _has_any(words, settings.request_phrases)


def _tells(words: Sequence[str], settings: ReadingSettings) -> bool:
    """Whether a sentence that starts like a question tells instead: "what i still have is ...", "how i got
    it ..." (a question word, then a statement subject), "doesn't help at all", "don't want to waste money"
    (a negated start with no subject after it; "isn't it ...", "don't you think ..." ask)."""
    second = words[1] if len(words) > 1 else None
    if words[0] in settings.question_words and second in settings.statement_subjects:
        return True
    return second in settings.negations and (len(words) < 3 or words[2] not in settings.negated_question_subjects)


def _starts_with(words: Sequence[str], phrases: Iterable[Tuple[str, ...]]) -> bool:
    return any(tuple(words[:len(phrase)]) == phrase for phrase in phrases)


def _thin(sentences: List["Span"], settings: ReadingSettings) -> bool:
    """Whether questions say nothing of their own subject ("Any ideas?", "Thoughts?", "What else can I do?"):
    they have a subjectless word and fewer than `min_subject_words` other words that are not stop words, or
    they are only stop words and point back at the story ("why is that?", "what could this be?")."""
    tokens = [token for sentence in sentences for token in sentence if token.is_alpha]

    def subjectless(token: Any) -> bool:
        return token.lower_ in settings.subjectless_words or token.lemma_.lower() in settings.subjectless_words

    def stop(token: Any) -> bool:
        return token.is_stop or token.lower_ in settings.filler_words

    subject = [t for t in tokens if not stop(t) and not subjectless(t)]
    if any(subjectless(t) for t in tokens) and len(subject) < settings.min_subject_words:
        return True
    return bool(tokens) and all(stop(t) for t in tokens) and any(t.lower_ in settings.pointing_words for t in tokens)


def asks_thinly(asking: Sequence["Span"], settings: ReadingSettings) -> bool:
    """Whether the sentences that ask do so only by a request that says nothing of its own subject, tacked
    onto what they tell ("... she refuses to see her doctor, so any thoughts would be welcome"): no "?", no
    question word first, and what follows the request phrase is thin. What such a message asks about is its
    story."""
    if not asking:
        return False
    for sentence in asking:
        if any(token.text == "?" for token in sentence):
            return False
        tokens = [token for token in sentence if not token.is_punct and not token.is_space]
        words = [token.lower_ for token in tokens]
        # "what should i do about it", "so what would you suggest" ask
        if not words or _opening(words, settings)[0] in settings.question_words:
            return False
        found = list(_phrase_spans(words, settings.request_phrases))
        if not found:
            return False
        # what the first request asks for: the words after it ("your thoughts on the matter")
        first = min(start for start, _ in found)
        end = max(stop for start, stop in found if start == first)
        if end < len(tokens) and not _thin([sentence.doc[tokens[end].i:sentence.end]], settings):
            return False
    return True


def _points_back(sentence: "Span", settings: ReadingSettings) -> bool:
    """Whether a question's subject is "that" or "this" ("is that connected to my foot?", "and how does that
    work?"), or it asks what did "this" ("coincidence, or did the skipping do this?"): what it asks about is
    told in the sentence before."""
    words = _words(sentence)
    return (_starts_with(_opening(words, settings), settings.pointing_starts)
            or _has_any(words, settings.pointing_phrases))


def _run_on_question(sentence: "Span", settings: ReadingSettings) -> Optional[int]:
    """Where the question of a run-on sentence starts ("... and my wife says it's the hours so what am i
    supposed to do"): the token after the last joiner that a question start follows, when the sentence is
    long, the clause after it asks and is short (a long one tells: "and what happens is ...") and what comes
    before it has no question word; None otherwise."""
    words = [token for token in sentence if not token.is_punct and not token.is_space]
    if len(words) < settings.run_on_min_words:
        return None
    lowered = [token.lower_ for token in words]
    for k in range(len(words) - 2, 2, -1):  # the last clause first; a joiner among the first words is no run-on
        if len(words) - k - 1 > settings.run_on_max_question_words:
            return None
        if lowered[k] not in settings.run_on_joiners:
            continue
        if _starts_with(lowered[k + 1:], settings.run_on_starts):
            clause = sentence.doc[words[k + 1].i:sentence.end]
            # "what is it and what does the fascia do?", "trying to understand what it is and how it's
            # treated": a question of two parts, not a story that ends in one.
            if is_asking(clause, settings) and not any(w in settings.question_words for w in lowered[:k]):
                return words[k + 1].i
    return None


def is_long(doc: "Doc", settings: ReadingSettings) -> bool:
    """Whether a message is longer than a short one (question.short_message_words, counting every word but
    punctuation): a short one is read whole, a long one for the question in it."""
    return len(_words(doc[:])) > settings.short_message_words


def read_question(doc: "Doc", settings: ReadingSettings) -> Tuple[List["Span"], List["Span"], bool]:
    """(the question, the sentences that ask, whether no sentence asks) of a message.

    A short message is read whole; it asks what its asking sentences say, or all it says when none asks.
    In a longer one, the question is the sentences that ask something (a run-on last sentence counts as
    two: the story and the question it ends with); when they say too little on their own ("Any ideas?"), the
    story before them is read too (question.thin_context_sentences), as what they ask about; when they point
    back ("is that connected?"), the sentence before them, as the context that says what "that" is. A story
    that asks nothing is read whole by the classifier, and has no sentence that asks: what it only tells (an
    injection, a heel spur) is not its question."""
    sentences = list(doc.sents) if doc.has_annotation("SENT_START") else [doc[:]]
    long = is_long(doc, settings)
    if long:
        # A run-on last sentence is two: the story, and the question it ends with.
        last = sentences[-1]
        split = _run_on_question(last, settings)
        if split is not None:
            sentences[-1:] = [doc[last.start:split], doc[split:last.end]]
    asking = [i for i, sentence in enumerate(sentences) if is_asking(sentence, settings)]
    asks_nothing = bool(len(doc)) and not asking
    if len(sentences) < 2:
        return [doc[:]], [doc[:]], asks_nothing
    if not long:
        # Read whole by the classifier; but what a short message only tells before its question ("tried
        # insoles and a night splint, nothing works. is massage worth a try?") is not what it asks.
        return [doc[:]], [sentences[i] for i in asking] or [doc[:]], asks_nothing
    if not asking:
        return [doc[:]], [], asks_nothing
    question = list(asking)
    thin = asking[0] > 0 and _thin([sentences[i] for i in asking], settings)
    points_back = asking[0] > 0 and _points_back(sentences[asking[0]], settings)
    if thin and not points_back and not any(token.lower_ in settings.pointing_words
                                            for i in asking for token in sentences[i]):
        # "Any thoughts?", "would appreciate your input": what it asks about is the story before it, up to
        # `thin_context_sentences` of its sentences ("why is that?", "what's that?" ask about the sentence
        # just before, as a question that points back does).
        context = range(max(0, asking[0] - settings.thin_context_sentences), asking[0])
        return [sentences[i] for i in (*context, *asking)], [sentences[i] for i in asking], asks_nothing
    if thin or points_back:
        question.insert(0, asking[0] - 1)
        # ... and when that sentence refers back itself ("My therapist talks about breaking up scar tissue.
        # It sounds like marketing. What does that mean?"), the one before it too.
        if asking[0] > 1 and _starts_with(_words(sentences[asking[0] - 1]), settings.referring_starts):
            question.insert(0, asking[0] - 2)
    return [sentences[i] for i in question], [sentences[i] for i in asking], asks_nothing


def question_sentences(doc: "Doc", settings: ReadingSettings) -> List["Span"]:
    """The sentences that the intent classifier reads: the question, with its context if it is thin."""
    return read_question(doc, settings)[0]


def _list_comma(doc: "Doc", j: int, end: int, settings: ReadingSettings) -> bool:
    """Whether the comma at j separates items of a list ("no cuts, sores or colour changes"): a list
    word follows it before `end`."""
    return any(doc[k].lower_ in settings.list_words for k in range(j + 1, end))


def negated_tokens(doc: "Doc", settings: ReadingSettings) -> FrozenSet[int]:
    """Indices of the tokens that a negation word shortly before them, in the same clause, negates.

    A list continues the negation ("i didn't hear any pop or snap", "no cuts, sores or colour changes"):
    its "or" and commas do not count towards the window and do not end the clause."""
    negated = set()
    for i in range(len(doc)):
        counted, j = 0, i - 1
        while j >= 0 and counted < settings.negation_window:
            token = doc[j]
            if token.lower_ in settings.list_words or (token.lower_ == "," and _list_comma(doc, j, i, settings)):
                j -= 1
                continue
            if token.lower_ in settings.clause_breaks:
                break
            if token.lower_ in settings.negation_words or token.lemma_.lower() in settings.negation_words:
                negated.add(i)
                break
            counted += 1
            j -= 1
    return frozenset(negated)


@dataclass(frozen=True)
class Entity:
    """What the entity_ruler found: its label, canonical value (data/spacy/entity_patterns.yml), tokens."""

    label: str
    value: str
    start: int
    end: int
    in_question: bool
    negated: bool


@dataclass(frozen=True)
class ParsedMessage:
    """One message, read once: everything the steps after the NLU model need."""

    text: str
    doc: "Doc"
    question: Tuple["Span", ...]
    asking: Tuple["Span", ...]
    negated: FrozenSet[int]
    entities: Tuple[Entity, ...]
    asks_nothing: bool = False  # no sentence asks: the person only tells (a story, a complaint, thanks)
    # how it was read: what `asks_thinly` reads, asked only when an answer needs it (not for every message)
    settings: Optional[ReadingSettings] = field(default=None, repr=False, compare=False)
    # what each phrase matcher found in the message, kept so that a matcher asked again about the same
    # message (the scope's checks ask theirs up to four times: uncovered, pointed at, named anywhere, left
    # out) runs over it once
    _matched: Dict[Any, List[Tuple[int, int, int]]] = field(default_factory=dict, init=False, repr=False,
                                                            compare=False)

    @property
    def question_text(self) -> str:
        """What the person asks (the whole message when it is short or asks nothing)."""
        return " ".join(span.text.strip() for span in self.question)

    @property
    def words(self) -> int:
        """How many words the message has."""
        return sum(1 for token in self.doc if token.is_alpha)

    @property
    def is_story(self) -> bool:
        """Whether the question is only part of the message."""
        return len(self.question) != 1 or len(self.question[0]) != len(self.doc)

    def in_question(self, token_index: int) -> bool:
        """Whether the token is in the question (with its context, as the classifier reads it)."""
        return any(span.start <= token_index < span.end for span in self.question)

    def in_asking(self, token_index: int) -> bool:
        """Whether the token is in a sentence that asks (not in the context read with a thin question)."""
        return any(span.start <= token_index < span.end for span in self.asking)

    def matched(self, matcher: "PhraseMatcher") -> List[Tuple[int, int, int]]:
        """(match id, start, end) of the matcher's phrases in the message, in order of appearance; run once
        per matcher and message."""
        if matcher not in self._matched:
            self._matched[matcher] = sorted(matcher(self.doc), key=lambda m: (m[1], m[2]))
        return self._matched[matcher]

    @functools.cached_property
    def is_long(self) -> bool:
        """Whether the message is longer than a short one, as its question was read (`is_long`)."""
        return self.settings is not None and is_long(self.doc, self.settings)

    @functools.cached_property
    def asks_thinly(self) -> bool:
        """Whether a longer message's sentences ask only by a request that names no subject ("..., so any
        thoughts would be welcome"): it asks about its story."""
        return self.is_long and asks_thinly(self.asking, self.settings)

    @functools.cached_property
    def asking_words(self) -> FrozenSet[str]:
        """The lower-case words of the sentences that ask: what the scope and need rules look for ("it",
        "him"), read once per message."""
        return frozenset(token.lower_ for span in self.asking for token in span)

    def same_sentence(self, token_index: int, other_index: int) -> bool:
        """Whether two tokens stand in the same sentence."""
        return self.doc[token_index].sent.start == self.doc[other_index].sent.start

    def values(self, label: str, question_only: bool = False) -> List[str]:
        """Canonical values of the entities with this label, in order, each once; not those negated
        ("I don't have diabetes")."""
        found = (e.value for e in self.entities
                 if e.label == label and not e.negated and (e.in_question or not question_only))
        return list(dict.fromkeys(found))

    @property
    def classifier_text(self) -> str:
        """The question as an intent classifier reads it (lemmas)."""
        return classifier_text(token for span in self.question for token in span if not token.is_space)


class Reader:
    """Reads messages with the project's spaCy pipeline and reading settings."""

    def __init__(self, nlp: "Language", settings: ReadingSettings) -> None:
        self.nlp = nlp
        self.settings = settings

    @classmethod
    def load(cls, nlp: Optional["Language"] = None, settings_file: Path = READING_FILE) -> "Reader":
        return cls(nlp or load_pipeline(), ReadingSettings.load(settings_file))

    def read(self, text: Optional[str]) -> ParsedMessage:
        """Parse a message once (lower case, at most MAX_PARSED_CHARS characters)."""
        text = text if isinstance(text, str) else ""
        doc = self.nlp(text.lower()[:MAX_PARSED_CHARS])
        question, asking, asks_nothing = read_question(doc, self.settings) if len(doc) else ([doc[:]], [doc[:]], False)
        negated = negated_tokens(doc, self.settings)
        entities = tuple(
            Entity(ent.label_, ent.ent_id_ or ent.text, ent.start, ent.end,
                   any(span.start <= ent.start < span.end for span in question), ent.start in negated)
            for ent in doc.ents
        )
        return ParsedMessage(text, doc, tuple(question), tuple(asking), negated, entities, asks_nothing,
                             self.settings)

    def matcher(self, phrases_by_key: Mapping[str, Iterable[str]]) -> "PhraseMatcher":
        """A matcher that finds each key's phrases by lemma ("injections" matches "injection")."""
        from spacy.matcher import PhraseMatcher

        matcher = PhraseMatcher(self.nlp.vocab, attr="LEMMA")
        for key, phrases in phrases_by_key.items():
            docs = [self.nlp.make_doc(str(p).lower()) for p in phrases]
            docs = [self.nlp.get_pipe("lemmatizer")(d) for d in docs]
            if docs:
                matcher.add(key, docs)
        return matcher


def classifier_text(tokens: Iterable[Any]) -> str:
    """What an intent classifier reads of a message: the lemmas of its tokens (the question's, in a story),
    lower case, joined by spaces. Rasa's tokens and spaCy's carry the same lemmas."""
    words = (getattr(token, "lemma_", None) or getattr(token, "lemma", None) or getattr(token, "text", "")
             for token in tokens)
    return " ".join(str(word).lower() for word in words if str(word).strip())


def intent_model(c: float, class_weight: Optional[str] = "balanced", char_ngrams: Sequence[int] = (2, 5),
                 word_ngrams: Sequence[int] = (1, 2), min_df: int = 2, max_iter: int = 2000) -> Any:
    """The intent classifier's model (scikit-learn): TF-IDF over character n-grams inside words (they carry
    misspellings: "fascitis", "gwa sha") and over words and word pairs, then logistic regression.

    TF-IDF with sublinear term frequency keeps a long question from outweighing a short one, which raw
    counts did. One definition serves the NLU model (components/intent_classifier.py) and the two-part
    question finder of the action server."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    return make_pipeline(
        make_union(
            TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(char_ngrams), sublinear_tf=True, min_df=min_df),
            TfidfVectorizer(ngram_range=tuple(word_ngrams), sublinear_tf=True),
        ),
        LogisticRegression(C=c, class_weight=class_weight, max_iter=max_iter),
    )


def model_arrays(model: Any) -> Dict[str, Any]:
    """The fitted parts of an `intent_model` as plain arrays of numbers and strings (no Python objects), to
    be stored without pickle: each vectorizer's terms in index order and idf weights, the regression's
    weights, intercepts and classes."""
    import numpy as np

    union, regression = model.steps[0][1], model.steps[-1][1]
    arrays: Dict[str, Any] = {}
    for k, (_, vectorizer) in enumerate(union.transformer_list):
        vocabulary = vectorizer.vocabulary_
        arrays[f"terms_{k}"] = np.array(sorted(vocabulary, key=vocabulary.__getitem__), dtype=str)
        arrays[f"idf_{k}"] = np.asarray(vectorizer.idf_, dtype=np.float64)
    arrays["coef"] = np.asarray(regression.coef_, dtype=np.float64)
    arrays["intercept"] = np.asarray(regression.intercept_, dtype=np.float64)
    arrays["classes"] = np.asarray(regression.classes_, dtype=str)
    return arrays


def model_from_arrays(arrays: Mapping[str, Any], **settings: Any) -> Any:
    """An `intent_model(**settings)` holding the fitted parts of `model_arrays`: the predictions of the model
    they were taken from (tests/test_intent_classifier.py), without fitting and without unpickling anything."""
    import numpy as np

    model = intent_model(**settings)
    union, regression = model.steps[0][1], model.steps[-1][1]
    for k, (_, vectorizer) in enumerate(union.transformer_list):
        terms = [str(term) for term in arrays[f"terms_{k}"]]
        if len(set(terms)) != len(terms):
            raise ValueError(f"terms_{k}: a term stored twice")
        vectorizer.vocabulary_ = {term: i for i, term in enumerate(terms)}
        vectorizer.idf_ = np.asarray(arrays[f"idf_{k}"], dtype=np.float64)
    coef = np.asarray(arrays["coef"], dtype=np.float64)
    if coef.shape[1] != sum(len(v.vocabulary_) for _, v in union.transformer_list):
        raise ValueError("coef: not one weight per term")
    regression.coef_ = coef
    regression.intercept_ = np.asarray(arrays["intercept"], dtype=np.float64)
    regression.classes_ = np.asarray(arrays["classes"])
    regression.n_features_in_ = coef.shape[1]
    return model


def store_model(file: Any, model: Any) -> None:
    """Write a fitted `intent_model` to `file` (a path or a binary file) as `model_arrays` in one .npz."""
    import numpy as np

    np.savez(file, **model_arrays(model))


def load_model(file: Any, **settings: Any) -> Any:
    """The `intent_model(**settings)` that `store_model` wrote to `file`, read without pickle (a file holding
    Python objects is refused, so a model file cannot run code)."""
    import numpy as np

    with np.load(file, allow_pickle=False) as stored:
        return model_from_arrays(stored, **settings)


class QuickPredictor:
    """`predict_proba` and `classes_` of a fitted `intent_model`, computed straight from its fitted parts.

    scikit-learn's pipeline spends about 2 ms a message on checks and sparse-matrix plumbing (the
    feature union, each vectorizer's fitted-checks, scipy copying the regression's weights): ten times
    the arithmetic. This does the same arithmetic (each vectorizer's analyzer, sublinear counts times its
    idf, l2 norm; the weights of the n-grams present; softmax) for the same probabilities (to rounding;
    tests/test_understanding.py) in about 0.25 ms. A model of another shape (two classes, other
    settings) is left to scikit-learn."""

    def __init__(self, model: Any) -> None:
        import numpy as np

        self.model = model
        self.classes_ = model.classes_
        regression = model.steps[-1][1]
        regression.coef_ = np.asfortranarray(regression.coef_)  # scikit-learn's own path: no copy per call
        self._parts: List[Tuple[Any, Dict[str, int], Any, int]] = []
        self._weights = self._intercept = None
        union = model.steps[0][1] if len(model.steps) == 2 else None
        vectorizers = [t for _, t in getattr(union, "transformer_list", [])]
        if not vectorizers or not self._quick_shape(vectorizers, regression):
            return
        offset = 0
        for vectorizer in vectorizers:
            self._parts.append((vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_, offset))
            offset += len(vectorizer.vocabulary_)
        self._weights = np.ascontiguousarray(regression.coef_.T)  # features x classes: a row per n-gram
        self._intercept = regression.intercept_

    @staticmethod
    def _quick_shape(vectorizers: Sequence[Any], regression: Any) -> bool:
        """Whether the arithmetic of `_probabilities` is the model's: TF-IDF vectorizers as intent_model
        makes them, and a multinomial regression (softmax) over more than two classes."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        multinomial = regression.multi_class == "multinomial" or (
            regression.multi_class == "auto" and len(regression.classes_) > 2 and regression.solver != "liblinear")
        return multinomial and all(
            isinstance(v, TfidfVectorizer) and v.sublinear_tf and v.use_idf and v.norm == "l2" and not v.binary
            for v in vectorizers)

    def _probabilities(self, text: str) -> Any:
        import numpy as np

        columns, values = [], []
        for analyzer, vocabulary, idf, offset in self._parts:
            counts: Dict[int, int] = {}
            for feature in analyzer(text):
                index = vocabulary.get(feature)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            weight = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * idf[index]
            norm = float(np.sqrt(weight @ weight))
            columns.append(index + offset)
            values.append(weight / norm if norm else weight)
        index, weight = np.concatenate(columns), np.concatenate(values)
        scores = weight @ self._weights[index] + self._intercept
        scores = np.exp(scores - scores.max())
        return scores / scores.sum()

    def predict_proba(self, texts: Sequence[str]) -> Any:
        """Class probabilities, a row per text, in the order of `classes_`."""
        import numpy as np

        if not self._parts:
            return self.model.predict_proba(texts)
        return np.vstack([self._probabilities(text) for text in texts]) if texts else np.zeros((0, len(self.classes_)))


def quick_to_predict(model: Any) -> QuickPredictor:
    """The fitted `intent_model`'s predictions without scikit-learn's per-call overhead (QuickPredictor)."""
    return QuickPredictor(model)


def overlaps_any(start: int, end: int, spans: Iterable[Tuple[int, int]]) -> bool:
    """Whether the tokens [start, end) share a token with one of the spans: a phrase inside, or across, an
    `except` phrase is that phrase's, not a finding of its own (triage's signs, the clinic's requests)."""
    return any(s < end and start < e for s, e in spans)


def matches(matcher: "PhraseMatcher", message: ParsedMessage, question_only: bool = False,
            skip_negated: bool = False, asking_only: bool = False) -> List[Tuple[str, int, int]]:
    """(key, start, end) of the matcher's phrases in the message, in order of appearance: in the whole
    message, the question (as the classifier reads it) or only the sentences that ask."""
    strings = message.doc.vocab.strings
    found = []
    for match_id, start, end in message.matched(matcher):
        if question_only and not message.in_question(start):
            continue
        if asking_only and not message.in_asking(start):
            continue
        if skip_negated and start in message.negated:
            continue
        found.append((strings[match_id], start, end))
    return found
