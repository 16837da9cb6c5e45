"""Build the project's spaCy pipeline: blank English, lookup lemmatizer, sentencizer, entity_ruler.

spaCy's official English models cannot be downloaded on our machines, so the project builds its own
small pipeline from data it keeps (data/spacy/entity_patterns.yml) and Rasa's SpacyNLP loads it by path.
The pipeline is defined once, in actions/understanding.py, which the action server reads messages with.
"""
import argparse
import logging
import sys
from pathlib import Path
from typing import List

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from actions.understanding import PATTERNS_FILE, PIPELINE_DIR, assemble_pipeline  # noqa: E402

logger = logging.getLogger("build_spacy_model")


def build(patterns_file: Path, output: Path) -> None:
    """Assemble the pipeline and save it where config.yml's SpacyNLP `model:` points."""
    nlp = assemble_pipeline(patterns_file)
    nlp.meta["name"] = "plantar_pipeline"
    nlp.meta["description"] = "Blank English + lookup lemmatizer + sentencizer + entity_ruler built from " + str(
        patterns_file.relative_to(PROJECT_ROOT) if patterns_file.is_relative_to(PROJECT_ROOT) else patterns_file
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    logger.info("Saved spaCy pipeline with %d patterns to %s", len(nlp.get_pipe("entity_ruler").patterns), output)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patterns", type=Path, default=PATTERNS_FILE)
    parser.add_argument("--output", type=Path, default=PIPELINE_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    build(args.patterns, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
