"""The FHIR operations benchmark runs end to end on a small demo clinic and reports every figure it promises."""

from clinic.fhir import bench


def test_the_fhir_benchmark_runs_on_a_small_demo_clinic() -> None:
    figures = bench.run(patients=2, per_day=12)
    meta = figures.pop("_meta")
    assert meta["visits"] > 0 and meta["refused"] == 0 and meta["booked"] >= 1
    assert figures["$find"]["p95"] > 0 and figures["$book"]["p50"] > 0
