"""Sweep the retrieval threshold (data/guide/retrieval.yml) on the held-out examples, retrieval alone.

    .venv/bin/python benchmarks/sweep_retrieval.py

A held-out example counts as right when retrieval answers the main topic of its need's answer (or a
sub-topic of it), or, for needs the guide does not cover, when nothing clears the threshold. Smalltalk examples are left out.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actions.knowledge import Guide, Needs, PassageRetriever  # noqa: E402
from actions.understanding import Reader  # noqa: E402
from tests.nlu_eval import OUT_OF_SCOPE, load_examples  # noqa: E402

THRESHOLDS = [0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3]


def main() -> None:
    reader = Reader.load()
    guide = Guide.load()
    needs = Needs.load(guide, reader)
    retriever = PassageRetriever.load(guide, reader)
    examples = []
    for text, intent in load_examples(Path(__file__).resolve().parent.parent / "tests" / "nlu_heldout"):
        need = needs.get(intent)
        if need and need.covered:
            examples.append((text, needs.answer(need, reader.read(text)).topic))
        elif need or intent == OUT_OF_SCOPE:
            examples.append((text, OUT_OF_SCOPE))
    best = [retriever.rank(reader.read(text))[0] for text, _ in examples]
    sys.stdout.write(f"{len(examples)} held-out examples (guide topics and out of scope)\n")
    sys.stdout.write("threshold  accuracy  in-scope answered right  out-of-scope kept out\n")
    for threshold in THRESHOLDS:
        right = oos_right = in_right = n_oos = 0
        for (text, gold), (topic_id, score) in zip(examples, best):
            predicted = topic_id if score >= threshold else OUT_OF_SCOPE
            ok = predicted == gold or (gold != OUT_OF_SCOPE and predicted.startswith(gold + "."))
            right += ok
            if gold == OUT_OF_SCOPE:
                n_oos += 1
                oos_right += ok
            else:
                in_right += ok
        n_in = len(examples) - n_oos
        sys.stdout.write(f"{threshold:9.2f}  {right / len(examples):8.3f}  {in_right / n_in:23.3f}  {oos_right / n_oos:21.3f}\n")


if __name__ == "__main__":
    main()
