"""Build the project's spaCy pipeline: blank English, lookup lemmatizer, entity_ruler.

spaCy's official English models cannot be downloaded on our machines, so the project builds its own
small pipeline from data it keeps (data/spacy/entity_patterns.yml) and Rasa's SpacyNLP loads it by path.
"""
import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Dict, List

import spacy
import yaml

logger = logging.getLogger("build_spacy_model")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATTERNS = PROJECT_ROOT / "data" / "spacy" / "entity_patterns.yml"
DEFAULT_OUTPUT = PROJECT_ROOT / "build" / "spacy_model"


def ruler_patterns(patterns_file: Path) -> List[Dict[str, Any]]:
    """Turn label -> value -> phrases into entity_ruler patterns (with the canonical value as id)."""
    data = yaml.safe_load(patterns_file.read_text(encoding="utf-8"))
    entities = (data or {}).get("entities")
    if not isinstance(entities, dict) or not entities:
        raise ValueError(f"{patterns_file}: expected a non-empty mapping under 'entities'")
    patterns = []
    for label, values in entities.items():
        for value, phrases in values.items():
            if not phrases:
                raise ValueError(f"{patterns_file}: {label}.{value} has no phrases")
            for phrase in phrases:
                patterns.append({"label": label, "pattern": str(phrase).lower(), "id": value})
    return patterns


def build(patterns_file: Path, output: Path) -> None:
    """Assemble the pipeline and save it where config.yml's SpacyNLP `model:` points."""
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    nlp.initialize()  # loads the lemma lookup tables from spacy-lookups-data
    ruler.add_patterns(ruler_patterns(patterns_file))
    nlp.meta["name"] = "plantar_pipeline"
    nlp.meta["description"] = "Blank English + lookup lemmatizer + entity_ruler built from " + str(
        patterns_file.relative_to(PROJECT_ROOT) if patterns_file.is_relative_to(PROJECT_ROOT) else patterns_file
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    logger.info("Saved spaCy pipeline with %d patterns to %s", len(ruler.patterns), output)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patterns", type=Path, default=DEFAULT_PATTERNS)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    build(args.patterns, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
