"""Rasa's graph runner for predictions, without dask's scheduler around plain function calls.

For every message Rasa runs its NLU graph once and its policy graph once per predicted action, through
`DaskGraphRunner`: it rebuilds the minimal graph for the targets and hands the nodes to dask's local
scheduler. The nodes are plain Python calls that run one after another anyway. Measured in one process,
parses alternating between the two runners (docs/benchmarks.md): the NLU graph took 2.32 ms a message with
dask and 1.88 ms without.

`SequentialGraphRunner` runs the same nodes with the same inputs, each once, every node after the nodes it
needs, and returns the same outputs (tests/test_graph_runner.py compares parses and predictions of the
trained model). A node's error propagates as it does from dask's synchronous scheduler. The minimal graph
for a set of targets is computed once. Only the processor uses it (channels/speedups.py installs it there);
training keeps Rasa's runner.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.engine.exceptions import GraphRunError
from rasa.engine.graph import GraphSchema
from rasa.engine.runner.dask import DaskGraphRunner

logger = logging.getLogger(__name__)


class SequentialGraphRunner(DaskGraphRunner):
    """DaskGraphRunner's results, computed by calling the nodes in dependency order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._minimal_schemas: Dict[Tuple[Text, ...], GraphSchema] = {}

    def _minimal_schema(self, targets: List[Text]) -> GraphSchema:
        key = tuple(targets)
        if key not in self._minimal_schemas:
            self._minimal_schemas[key] = self._graph_schema.minimal_graph_schema(targets)
        return self._minimal_schemas[key]

    def run(self, inputs: Optional[Dict[Text, Any]] = None, targets: Optional[List[Text]] = None) -> Dict[Text, Any]:
        """Runs the graph (see GraphRunner.run): the targets' outputs by node name."""
        run_targets = targets if targets else self._graph_schema.target_names
        schema = self._minimal_schema(run_targets)
        # Inputs reach the nodes as they do through dask: as (input name, value) pairs.
        results: Dict[Text, Any] = {}
        for name, value in (inputs or {}).items():
            if isinstance(value, str) and value in schema.nodes:
                raise GraphRunError(
                    f"Input value '{value}' clashes with a node name. Make sure that none of the input names "
                    f"passed to the `run` method are the same as node names in the graph schema."
                )
            results[name] = (name, value)

        def output(name: Text, needed_by: Tuple[Text, ...] = ()) -> Any:
            if name in results:
                return results[name]
            if name in needed_by:
                raise GraphRunError(f"Error running runner: the graph has a cycle through '{name}'.")
            node = schema.nodes.get(name)
            if node is None:
                raise GraphRunError(f"Error running runner: no node or input named '{name}'.")
            needed = [output(dependency, needed_by + (name,)) for dependency in node.needs.values()]
            results[name] = self._instantiated_nodes[name](*needed)
            return results[name]

        return dict(output(target) for target in run_targets)
