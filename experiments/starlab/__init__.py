"""STaR Lab experiments: the run-event emitter, a small tracking SDK, and the experiments.

``import starlab`` is cheap: torch/transformers are imported only by the experiments.
"""

from .sdk import Run, init

__all__ = ["init", "Run", "__version__"]
__version__ = "0.1.0"
