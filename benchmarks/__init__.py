"""Benchmarks users can trust: latency per backend, precision, input size and threads (with the preprocess /
bare backend / postprocess breakdown and process peak memory), and accuracy on WIDER FACE / FDDB, side by side with
the peer detectors a user would otherwise pick. Run ``python -m benchmarks --help``; see docs/BENCHMARKS.md.

Programmatic use::

    from benchmarks.runner import Options, run
    from benchmarks.report import write_outputs
    report = run(Options(command="latency", peers=["yunet"], sizes=[640], runs=5))
    write_outputs(report, Path("out/bench"))
"""

from .schema import SCHEMA, SCHEMA_VERSION

__all__ = ["SCHEMA", "SCHEMA_VERSION"]
