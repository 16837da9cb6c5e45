"""Reading a message once (actions/understanding.py): sentences, the question inside a story, negations,
entities, and the NLU tokenizer that reads the same question."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.content import KnowledgeError
from actions.understanding import READING_FILE, Reader, ReadingSettings, question_sentences

STORY = ("I'm a nurse and I've been on my feet for twelve hour shifts for years. Since March the bottom of my "
         "heel hurts when I get out of bed, and my new trainers didn't help at all. My sister swears by her "
         "insoles but I'm not sure. Will it ever go away?")


def test_a_short_message_is_read_whole(reader: Reader) -> None:
    message = reader.read("how do i massage my arch? and which oil?")
    assert message.question_text == "how do i massage my arch? and which oil?"
    assert not message.is_story


def test_the_question_at_the_end_of_a_story_is_found(reader: Reader) -> None:
    message = reader.read(STORY)
    assert message.is_story
    assert message.question_text == "will it ever go away?"
    assert len(list(message.doc.sents)) == 4  # the whole story is still there, for triage and cautions


@pytest.mark.parametrize("text, question", [
    # a question first, then the story
    ("Can massage help plantar fasciitis? I have had it for a year now, it started after I took up running "
     "again and upped my miles too fast, and the mornings are the worst part of it by far.",
     "can massage help plantar fasciitis?"),
    # a request without a question mark
    ("I have had heel pain for two months from standing at the till all day long at the supermarket. It is "
     "worst first thing in the morning and after my break. Any tips on what I can do at home",
     "any tips on what i can do at home"),
    # a thin question ("thoughts?") brings the story before it, which says what it is about
    ("I have been running for ten years without any trouble at all and now this heel thing has appeared. "
     "My race is in three weeks and I have paid for the entry and the hotel already. Thoughts?",
     "i have been running for ten years without any trouble at all and now this heel thing has appeared. "
     "my race is in three weeks and i have paid for the entry and the hotel already. thoughts?"),
    # a question of stop words that points back ("why is that?") is thin too, and brings the sentence before ...
    ("I stack shelves on nights and have done for years without a bother. After a long shift my arch goes "
     "tight and crampy the minute I finally sit down in the van. Why is that?",
     "after a long shift my arch goes tight and crampy the minute i finally sit down in the van. why is that?"),
    # ... as is one whose only other word says it is about what stands before ("is that a thing?")
    ("Lived in sliders all through the holiday and never wore trainers once. Now both heels are sore when I "
     "get out of bed. My brother says it was the sliders that did it. Is that actually a thing?",
     "my brother says it was the sliders that did it. is that actually a thing?"),
    # "worth it?" is thin: what "it" is stands before
    ("The clinic near my work does acupuncture on tuesdays and my colleague went for her back last year. "
     "They say it can help heel pain too, twelve sessions for the course. Worth it?",
     "the clinic near my work does acupuncture on tuesdays and my colleague went for her back last year. "
     "they say it can help heel pain too, twelve sessions for the course. worth it?"),
    # a question whose subject is "that" is about what the sentence before it tells
    ("Had a sore heel since the spring and I have been walking on the outside of my foot to keep off it. "
     "Lately my hip on the same side aches after the school run. Is that connected to the foot?",
     "lately my hip on the same side aches after the school run. is that connected to the foot?"),
    # a negated start with no subject after it tells ("don't want to ..."), a negated question asks
    ("Been using a spiky ball under my arch every night for two weeks now and my heel still aches most "
     "mornings. Would a proper massage do more? Don't want to spend money on something that won't help.",
     "would a proper massage do more?"),
    ("Been using a spiky ball under my arch every night for two weeks now and my heel still aches most "
     "mornings, worst when I get up from the sofa after a film or off the bus after work. Doesn't it take "
     "longer than that to work",
     "doesn't it take longer than that to work"),
    # ... but one that asks without pointing back stands alone
    ("I stack shelves on nights and have done for years without a bother. After a long shift my arch goes "
     "tight and crampy the minute I finally sit down in the van. What can I do?",
     "what can i do?"),
    # "What I still have is ..." is a statement, not a question; a story that asks nothing is read whole
    ("What I still have is a sore spot at the base of my arch after the long walks we did on holiday. "
     "It is better than last month though, and the mornings are easier than they were in the spring.",
     "what i still have is a sore spot at the base of my arch after the long walks we did on holiday. "
     "it is better than last month though, and the mornings are easier than they were in the spring."),
    # "should i ..." asks without a question mark ("what i ..." would tell)
    ("Ive had the heel pain for about three months now and it is at its worst first thing in the morning. "
     "My partner bought me one of those spiky balls for my birthday. Should I be rolling it even when it hurts",
     "should i be rolling it even when it hurts"),
    # a run-on message: the question is the clause after the last "so", not the whole story
    ("been stacking shelves nights for six years and my heel is wrecked every morning and the lads at work "
     "all say different things and my mum says to rest it so what do i actually do about it",
     "what do i actually do about it"),
    # ... but "and what happens is ..." tells, it does not ask: a story that asks nothing stays whole
    ("my heel has been bad since the summer and what happens is the first few steps are awful and then it "
     "loosens off and by the afternoon its fine but by the evening its back again",
     "my heel has been bad since the summer and what happens is the first few steps are awful and then it "
     "loosens off and by the afternoon its fine but by the evening its back again"),
    # ... and a question of two parts is one question, not a story that ends in one
    ("i am new to all of this and i would love to understand what the plantar fascia actually is and how "
     "massage is supposed to help it heal",
     "i am new to all of this and i would love to understand what the plantar fascia actually is and how "
     "massage is supposed to help it heal"),
    # a question told as not understanding asks, wherever it stands in the story
    ("i really don't understand why it only hurts on my days off. i do a desk job monday to wednesday and "
     "stand at a market stall at the weekend, and by sunday evening i can feel every step in my heel.",
     "i really don't understand why it only hurts on my days off."),
    # "explain it simply" says nothing of what "it" is: the story before it does
    ("i am 61 and have worked in a bakery for most of my life, so my feet have had a hard time. my physio "
     "keeps saying my fascia is inflamed and i nod along. i would be grateful if you could explain it in "
     "plain language.",
     "i am 61 and have worked in a bakery for most of my life, so my feet have had a hard time. my physio "
     "keeps saying my fascia is inflamed and i nod along. i would be grateful if you could explain it in "
     "plain language."),
    # "the doctor tell me ..." tells what someone said; "tell me ..." and "please tell me ..." ask
    ("I work in a bakery since three years and my heel is hurting every morning. The doctor tell me it is "
     "plantar fasciitis from standing. Which massage is good for me?",
     "which massage is good for me?"),
    ("I work in a bakery since three years and my heel is hurting every morning, it is very bad in the "
     "winter. Please tell me which massage is good for me.",
     "please tell me which massage is good for me."),
    # "what does that mean?" points back; when the sentence it points back at refers further back itself
    # ("It sounds ..."), that one is read too
    ("i'm 50 and have had pf since the spring, on my feet all day at the garden centre. my osteopath talks "
     "about freeing up the fascia every visit. it all sounds very vague to me. what does that mean?",
     "my osteopath talks about freeing up the fascia every visit. it all sounds very vague to me. what does "
     "that mean?"),
    # ... not a sentence that only starts with "this" as a time ("this morning ...")
    ("i'm 50 and have had pf since the spring, on my feet all day at the garden centre. my osteopath worked "
     "on the fascia yesterday. this morning the heel felt looser than it has in months. what does that mean?",
     "this morning the heel felt looser than it has in months. what does that mean?"),
    # a choice between what the story told, and a doubt of it, are read with the sentence before
    ("my physio says the fascia is inflamed and needs rest, my massage therapist says it's stuck and needs "
     "working on. i'm 44 and it's been five months of this. which is it?",
     "i'm 44 and it's been five months of this. which is it?"),
    ("i'm 44 and have had this heel pain since last winter, on my feet all day at the depot. my mum swears "
     "it clears up on its own within a year. does it really?",
     "my mum swears it clears up on its own within a year. does it really?"),
    # phrases with a contraction are compared as spaCy's tokens ("i'd" is "i" + "'d", "what's" "what" + "'s")
    ("i'm 61, retired, and the heel has bothered me since the spring, mostly first thing and after sitting. "
     "i'd like to know whether rolling it on a bottle is doing any good.",
     "i'd like to know whether rolling it on a bottle is doing any good."),
    ("i'm 61, retired, and the heel has bothered me since the spring, mostly first thing in the morning and "
     "after a long walk with the dog. the podiatrist said fat pad atrophy. what's that?",
     "the podiatrist said fat pad atrophy. what's that?"),
    # a kiss at the end says nothing of the question's subject: "any pointers would mean a lot x" is thin
    ("i'm 34 and a hairdresser, standing all day, and my heel has been sore every morning since march. i "
     "can't take time off so i want to sort it myself at home. any pointers would mean a lot x",
     "i'm 34 and a hairdresser, standing all day, and my heel has been sore every morning since march. i "
     "can't take time off so i want to sort it myself at home. any pointers would mean a lot x"),
    # "not sure ... anymore" says nothing of the subject either
    ("seven months of this heel and i teach dance, so i'm on my feet all day. a friend swears by some gel "
     "socks but i'm starting to think nothing will ever shift it. not sure what to think anymore, any ideas?",
     "seven months of this heel and i teach dance, so i'm on my feet all day. a friend swears by some gel "
     "socks but i'm starting to think nothing will ever shift it. not sure what to think anymore, any ideas?"),
    # looking for help, wanting to know, or to book, ask without a question mark
    ("my heel has been sore since the spring and i'm on my feet all day at the salon. the gp said it's not "
     "plantar fasciitis but a bursitis. honestly i'm just looking for anything that might help.",
     "honestly i'm just looking for anything that might help."),
    ("i've had pf for a year and the massage at home helps a lot but i want someone to do it properly. "
     "i'd like to book a session for next week and find out the price.",
     "i'd like to book a session for next week and find out the price."),
    # "your opinion" says nothing of the question's subject: the story does
    ("since two months the heel hurts in the morning and then it gets better when i walk. my friend says it "
     "is plantar fasciitis. i would like to know your opinion.",
     "since two months the heel hurts in the morning and then it gets better when i walk. my friend says it "
     "is plantar fasciitis. i would like to know your opinion."),
    # "this problem" says nothing of what the problem is: the sentence before does
    ("I have pain in heel since march. I work in a shop and stand all day. My cousin does massage and she "
     "wants to try the trigger point on me. It is good for this problem?",
     "my cousin does massage and she wants to try the trigger point on me. it is good for this problem?"),
    # how what the story told works, asked with "that" ("how does that work?"), is about the sentence before
    ("My sister does sports massage and works on my heel every other weekend, which helps for a day or two. "
     "She says the pressure gets more blood into the fascia. How does that work?",
     "she says the pressure gets more blood into the fascia. how does that work?"),
    # ... as is what did "this" ("did the new shoes do this?"), even after a joiner ("or ...")
    ("I swapped to zero drop trainers in the summer because everyone at parkrun raves about them, and by "
     "october my heel was sore every single morning. Bad luck, or did the new shoes do this?",
     "i swapped to zero drop trainers in the summer because everyone at parkrun raves about them, and by "
     "october my heel was sore every single morning. bad luck, or did the new shoes do this?"),
    # ... as is whether to go on with what the story names ("should I still be using it?")
    ("Got one of those jade scrapers off my sister, who swears by it for her shoulders. Been scraping my sole "
     "every night for a week. Today the arch is tender to touch. Should I still be using it?",
     "today the arch is tender to touch. should i still be using it?"),
    # ... but no further back than question.thin_context_sentences
    ("i'm 58. i walk the dog twice a day. i work in a shop. i stand a lot. my heel hurts in the mornings. it "
     "has done since june. it eases by lunch. the gp says pf. i roll a bottle under it. i stretch my calves. "
     "i wear trainers now. any tips?",
     "i walk the dog twice a day. i work in a shop. i stand a lot. my heel hurts in the mornings. it has done "
     "since june. it eases by lunch. the gp says pf. i roll a bottle under it. i stretch my calves. i wear "
     "trainers now. any tips?"),
])
def test_the_question_is_what_the_person_asks(reader: Reader, text: str, question: str) -> None:
    assert reader.read(text).question_text == question


def test_the_context_of_a_thin_question_is_read_but_does_not_ask(reader: Reader) -> None:
    message = reader.read("I had two cortisone injections last year and custom orthotics, and it came back after "
                          "the school run started again in September, worse than before in the mornings. "
                          "What else can I do?")
    assert "cortisone" in message.question_text
    assert not any(message.in_asking(t.i) for t in message.doc if t.lower_ == "cortisone")


def test_a_short_message_asks_only_its_asking_sentence_but_is_classified_whole(reader: Reader) -> None:
    message = reader.read("tried insoles and a night splint, nothing works. is massage worth a try?")
    assert message.question_text.startswith("tried insoles")  # the classifier reads it whole
    assert not any(message.in_asking(t.i) for t in message.doc if t.lower_ in ("insoles", "splint"))
    assert any(message.in_asking(t.i) for t in message.doc if t.lower_ == "massage")
    one = reader.read("can insoles help with heel pain")  # one sentence: all of it asks
    assert all(one.in_asking(t.i) for t in one.doc)


@pytest.mark.parametrize("text, word, negated", [
    ("no numbness, just heel pain", "numbness", True),
    ("i don't have any tingling", "tingling", True),
    ("i didn't hear any pop or snap", "snap", True),
    ("there are no cuts, sores or colour changes", "colour", True),
    ("it's the classic morning pain, nothing red or hot or swollen", "swollen", True),
    ("nothing helps, and now my toes are numb", "numb", False),
    ("no swelling, but my toes are numb", "numb", False),
    ("it doesn't help that my toes are numb", "numb", False),
    ("my toes are numb", "numb", False),
    ("i never knew why my feet hurt", "feet", False),  # "why" opens a clause of its own
    ("i never had sore feet", "feet", True),
])
def test_negation_reaches_across_its_clause_and_lists(reader: Reader, text: str, word: str, negated: bool) -> None:
    message = reader.read(text)
    index = next(t.i for t in message.doc if t.lower_ == word)
    assert (index in message.negated) is negated


def test_entities_have_canonical_values_and_know_where_they_stand(reader: Reader) -> None:
    message = reader.read("I'm diabetic and pregnant, and I tried gua sha last year. Is MFR safe?")
    assert message.values("condition") == ["diabetes", "pregnancy"]
    assert message.values("technique") == ["gua_sha", "myofascial_release"]
    assert message.values("technique", question_only=True) == ["gua_sha", "myofascial_release"]  # short: whole
    story = reader.read("I tried gua sha last year with a friend of mine who does it at her salon in town, and "
                        "it was fine but did nothing much for me in the end. Is MFR any good?")
    assert story.values("technique", question_only=True) == ["myofascial_release"]
    assert reader.read("I don't have diabetes, is it safe?").values("condition") == []


def test_bad_input_is_read_as_an_empty_message(reader: Reader) -> None:
    for text in (None, "", "   ", 42):
        message = reader.read(text)  # type: ignore[arg-type]
        assert message.question_text == "" and not message.entities


def test_a_very_long_message_is_bounded(reader: Reader) -> None:
    message = reader.read("my heel hurts. " * 2000)
    assert len(message.doc.text) <= 5000


def test_reading_settings_problems_are_named(tmp_path: Path) -> None:
    data = yaml.safe_load(READING_FILE.read_text())
    data["negation"]["words"] = [False, "not"]  # an unquoted YAML `no`
    path = tmp_path / "reading.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(KnowledgeError, match=r"reading\.yml: negation.words: expected a non-empty list"):
        ReadingSettings.load(path)


@pytest.mark.parametrize("value", [-1, "ten", None])
def test_a_thin_question_context_that_is_no_whole_number_is_named(tmp_path: Path, value) -> None:
    data = yaml.safe_load(READING_FILE.read_text())
    data["question"]["thin_context_sentences"] = value
    path = tmp_path / "reading.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(KnowledgeError, match=r"reading\.yml: 'question.thin_context_sentences' must be a whole number"):
        ReadingSettings.load(path)


def test_the_nlu_tokenizer_keeps_the_question_of_a_story(reader: Reader) -> None:
    """Rasa's featurizers see the tokens the tokenizer keeps; they must be those of the question."""
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message
    from rasa.nlu.constants import SPACY_DOCS, TOKENS_NAMES

    from components.focused_tokenizer import FocusedSpacyTokenizer

    tokenizer = FocusedSpacyTokenizer(FocusedSpacyTokenizer.get_default_config())
    for text, expected in ((STORY, "will it ever go away ?"), ("what causes it", "what causes it")):
        message = Message({TEXT: text.lower()})
        message.set(SPACY_DOCS[TEXT], reader.nlp(text.lower()))
        tokenizer.process([message])
        assert " ".join(t.text for t in message.get(TOKENS_NAMES[TEXT])) == expected
    assert question_sentences(reader.nlp(STORY.lower()), tokenizer.settings)[0].text == "will it ever go away?"


def test_the_tokenizer_retrains_the_model_when_the_reading_settings_change(tmp_path: Path) -> None:
    from components.focused_tokenizer import FocusedSpacyTokenizer

    before = FocusedSpacyTokenizer.fingerprint_addon({})
    assert before == ReadingSettings.load().fingerprint
    changed = tmp_path / "reading.yml"
    changed.write_text(READING_FILE.read_text().replace("short_message_words: 30", "short_message_words: 31"))
    assert ReadingSettings.load(changed).fingerprint != before


def test_quick_to_predict_keeps_the_probabilities_and_stores_the_weights_column_major() -> None:
    """scikit-learn multiplies by coef_.T; stored column-major, scipy need not copy the weights per message.
    The quick predictor's own arithmetic gives scikit-learn's probabilities, also for a text with no known
    n-gram and for an empty one."""
    import numpy as np

    from actions.understanding import intent_model, quick_to_predict

    texts = ["what causes heel pain", "why does my heel hurt", "how do i massage my foot", "massage my arch at home",
             "is gua sha safe", "can massage be dangerous"] * 3
    labels = ["causes", "causes", "home", "home", "safety", "safety"] * 3
    model = intent_model(c=10, min_df=1).fit(texts, labels)
    asked = ["my heel hurts, why", "how should i massage", "heel heel heel pain pain", "zzz qqq", "", "Gua-Sha SAFE?"]
    before = model.predict_proba(asked)
    assert not model.steps[-1][1].coef_.T.flags["C_CONTIGUOUS"]
    predictor = quick_to_predict(model)
    assert model.steps[-1][1].coef_.T.flags["C_CONTIGUOUS"]
    assert predictor._parts, "the quick arithmetic is used for intent_model's shape"
    assert list(predictor.classes_) == list(model.classes_)
    assert np.allclose(predictor.predict_proba(asked), before, rtol=0, atol=1e-12)
    assert np.allclose(model.predict_proba(asked), before)
    assert predictor.predict_proba([]).shape == (0, 3)


def test_quick_to_predict_leaves_other_shapes_to_scikit_learn() -> None:
    """Two classes: scikit-learn's regression is a sigmoid, not a softmax; the predictor does not guess."""
    import numpy as np

    from actions.understanding import intent_model, quick_to_predict

    texts, labels = ["what causes heel pain", "why does my heel hurt", "how do i massage", "massage at home"] * 2, \
        ["causes", "causes", "home", "home"] * 2
    model = intent_model(c=10, min_df=1).fit(texts, labels)
    predictor = quick_to_predict(model)
    assert not predictor._parts
    assert np.allclose(predictor.predict_proba(["heel pain why"]), model.predict_proba(["heel pain why"]))

@pytest.mark.parametrize("text, asks_nothing", [
    ("six months of this. my heel is killing me every morning. so fed up.", True),
    ("thanks, that helped a lot", True),
    ("been rolling it for a month. doesn't help at all. isn't getting any better either", True),
    ("my heel is killing me. any tips?", False),
    ("been doing the calf massage for weeks. does it take long to work", False),
    # spaCy splits "won't" and "can't" into "wo"/"ca" + "n't", and "cant" into "ca" + "nt"
    ("six weeks of rolling it every night. won't it ever settle down", False),
    ("six weeks of rolling it every night. can't i do anything more", False),
    ("six weeks of rolling it every night. cant believe it still hurts", True),
    ("six weeks of rolling it every night. where exactly should the ball go", False),
    ("six weeks of rolling it every night. who should i see about it next", False),
    ("six weeks of rolling it every night. where i work the floors are concrete", True),
    ("six weeks of rolling it every night. dont want to waste more money on tools", True),
    # a joiner before the question word ("and what ...", "so is it ...") still asks; "and i ..." tells
    ("six weeks of rolling it every night. and what does the rolling even do for the fascia", False),
    ("six weeks of rolling it every night. so is it worth carrying on", False),
    ("six weeks of rolling it every night. and i still limp first thing", True),
    ("", False),
])
def test_a_message_that_only_tells_asks_nothing(reader, text: str, asks_nothing: bool) -> None:
    assert reader.read(text).asks_nothing is asks_nothing


@pytest.mark.parametrize("text, thinly", [
    # a request that names nothing, tacked onto what the sentence tells
    ("my mum is 80 and her heel is sore first thing, it eases when she's pottering about. she won't see the "
     "doctor, so we'd appreciate your thoughts on the matter.", True),
    ("six weeks of first-step pain, worse after my shifts at the depot, and the physio reckons it's my calves "
     "but i'm not sure. would be grateful for any advice.", True),
    # a request that names its subject, a question mark, or a question start: it asks
    ("six weeks of first-step pain, worse after my shifts at the depot, and the physio reckons it's my calves but i'm not sure. would appreciate "
     "knowing whether calf massage helps the heel.", False),
    ("six weeks of first-step pain, worse after my shifts at the depot, and the physio reckons it's my calves but i'm not sure. any advice?", False),
    ("six weeks of first-step pain, worse after my shifts at the depot, and the physio reckons it's my calves but i'm not sure. what should i do "
     "about it", False),
    # ... after a joiner too ("so what ...")
    ("six weeks of first-step pain, worse after my shifts at the depot, and the physio reckons it's my calves but i'm not sure. so what would you "
     "recommend, any tips", False),
    # a short message is read whole
    ("sore heel, any thoughts welcome", False),
])
def test_a_story_may_ask_only_for_thoughts_on_it(reader: Reader, text: str, thinly: bool) -> None:
    assert reader.read(text).asks_thinly is thinly


@pytest.mark.parametrize("text, lemmas", [
    ("wat helps w the stiffness", "what help with the stiffness"),
    ("how long b4 u see results", "how long before you see result"),
])
def test_text_speak_is_read_as_the_word_it_stands_for(reader, text: str, lemmas: str) -> None:
    message = reader.read(text)
    assert message.classifier_text == lemmas
    assert not message.asks_nothing


def test_a_text_speak_question_ends_a_story(reader) -> None:
    message = reader.read("my heel is so stiff first thing, it takes me a good ten minutes in the kitchen before i "
                          "can walk normal and get the kids to school. wat helps w that")
    assert message.question_text == "wat helps w that"


@pytest.mark.parametrize("text", ["i have ra and now sore heels on top", "psoriatic arthritis in both ankles, is massage ok"])
def test_arthritis_is_found_however_it_is_named(reader, text: str) -> None:
    assert reader.read(text).values("condition") == ["arthritis"]


@pytest.mark.parametrize("start, end, spans, expected", [
    (3, 5, [(4, 7)], True),   # across the start of an except phrase
    (5, 6, [(4, 7)], True),   # inside it
    (2, 4, [(4, 7)], False),  # ends where it starts
    (7, 9, [(4, 7)], False),  # starts where it ends
    (3, 5, [], False),
])
def test_a_phrase_that_shares_a_token_with_an_except_phrase_is_its(start: int, end: int, spans, expected: bool) -> None:
    from actions.understanding import overlaps_any

    assert overlaps_any(start, end, spans) is expected
