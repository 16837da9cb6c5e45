"""Sweep `min_confidence` of the scope check (data/guide/scope.yml) on the NLU held-out examples.

    .venv/bin/python benchmarks/sweep_scope.py [models/plantar-bot.tar.gz]

A question that names a subject the guide does not cover (injections, insoles, gout...) gets the honest
"not covered" answer (with what the guide does say) unless the classifier is at least `min_confidence`
sure of its need. Needs the guide does not cover (other treatments, sport) count as out of scope. For each value:
how many in-scope examples would lose their answer to the check, and how many out-of-scope examples the
check catches that the classifier alone (intent out_of_scope or the fallback) did not.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actions.knowledge import Guide, Needs, Scope  # noqa: E402
from actions.understanding import Reader  # noqa: E402
from benchmarks.sweep_fallback import top_intents  # noqa: E402
from tests.nlu_eval import OUT_OF_SCOPE, load_examples  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
THRESHOLDS = [0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01]
FALLBACK_THRESHOLD = 0.25  # config.yml's FallbackClassifier threshold


def main(model: Path) -> None:
    reader = Reader.load()
    needs = Needs.load(Guide.load(), reader)
    declined = {OUT_OF_SCOPE} | {intent for intent in needs.intents if not needs.get(intent).covered}
    examples = [(text, OUT_OF_SCOPE if gold in declined else gold)
                for text, gold in load_examples(PROJECT_ROOT / "tests" / "nlu_heldout")]
    scope = Scope.load(reader)
    tops = asyncio.run(top_intents(model, [text for text, _ in examples]))
    rows = []
    for (text, gold), (intent, confidence) in zip(examples, tops):
        oos_already = intent in declined or confidence < FALLBACK_THRESHOLD
        rows.append((gold, oos_already, confidence, bool(scope.uncovered(reader.read(text)))))
    in_scope = [r for r in rows if r[0] != OUT_OF_SCOPE]
    out_scope = [r for r in rows if r[0] == OUT_OF_SCOPE]
    sys.stdout.write(f"{len(in_scope)} in-scope and {len(out_scope)} out-of-scope held-out examples; "
                     f"{sum(r[3] for r in rows)} name an uncovered subject\n")
    sys.stdout.write("min_confidence  in-scope lost to the check  out-of-scope caught (classifier alone)\n")
    alone = sum(r[1] for r in out_scope)
    for threshold in THRESHOLDS:
        lost = sum(1 for _, already, conf, named in in_scope if not already and named and conf < threshold)
        caught = sum(1 for _, already, conf, named in out_scope if already or (named and conf < threshold))
        sys.stdout.write(f"{threshold:14.2f}  {lost:26d}  {caught:3d}/{len(out_scope)} ({alone}/{len(out_scope)})\n")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else PROJECT_ROOT / "models" / "plantar-bot.tar.gz"))
