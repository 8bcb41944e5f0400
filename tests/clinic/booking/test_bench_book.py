"""The Book benchmark runs end to end on a small demo clinic and reports every figure it promises."""

from clinic.booking import bench_book


def test_the_book_benchmark_runs_on_a_small_demo_clinic() -> None:
    figures = bench_book.run(patients=2, per_day=12)
    meta = figures.pop("_meta")
    assert meta["visits"] > 0 and meta["problems"] == 0
    assert figures["propose"]["p95"] > 0 and figures["propose 1 day"]["p95"] > 0
    assert figures["book"] is not None and figures["book"]["p50"] > 0
