"""STaR Lab experiments: the run-event emitter, a small tracking SDK, and the experiments.

``import starlab`` is cheap: torch/transformers are imported only by the experiments.
"""

from .sdk import Run, init

__all__ = ["init", "Run", "Verifier", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str):
    # the deployable verifier needs torch: imported when asked for, so `import starlab` stays cheap
    if name == "Verifier":
        from .verifier_dir import Verifier

        return Verifier
    raise AttributeError(f"module 'starlab' has no attribute {name!r}")
