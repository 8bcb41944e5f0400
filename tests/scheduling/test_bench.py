"""The benchmark's pooling: the issue's table per size over every day of it, and the wait shares."""

import dataclasses

import pytest

from scheduling.bench import Row, mean_wait, per_size, wait_shares


def _row(size: int, booked: float, method: str, placed: list[int], waits: list[int], **kw) -> Row:
    return Row(size, booked, method, placed=placed, total_wait=waits, requests=[100] * len(placed), **kw)


def test_per_size_pools_every_booked_share_of_a_size_by_method():
    rows = [
        _row(100, 0.0, "greedy", [68, 70], [2000, 2100]),
        _row(100, 0.0, "cp-sat", [68, 70], [300, 360], below_greedy=0, violations=1),
        _row(100, 0.3, "greedy", [38], [1800]),
        _row(100, 0.3, "cp-sat", [38], [500], violations=2, latency_note="refill failed"),
        _row(150, 0.3, "greedy", [57], [3000]),
    ]
    pooled = {(r.size, r.method): r for r in per_size(rows)}
    assert sorted(pooled) == [(100, "cp-sat"), (100, "greedy"), (150, "greedy")]
    both = pooled[(100, "cp-sat")]
    assert both.booked is None
    assert both.placed == [68, 70, 38] and both.total_wait == [300, 360, 500]
    assert both.violations == 3 and both.latency_note == "refill failed"
    assert mean_wait(both) == pytest.approx(1160 / 176)
    assert rows[1].placed == [68, 70], "pooling leaves the rows it was given alone"


def test_wait_shares_divide_each_solver_mean_by_greedys_of_the_same_days():
    rows = [
        _row(100, 0.0, "greedy", [68], [2040]),
        _row(100, 0.0, "cp-sat", [68], [340]),
        _row(100, 0.3, "greedy", [38], [1805]),
        _row(100, 0.3, "cp-sat", [38], [507]),
        _row(200, 0.0, "greedy", [10], [0]),  # greedy waited nothing: no share to report
        _row(200, 0.0, "cp-sat", [10], [0]),
    ]
    shares = {(size, booked): ratio for size, booked, ratio in wait_shares(rows)}
    assert shares == {(100, 0.0): pytest.approx(340 / 2040), (100, 0.3): pytest.approx(507 / 1805)}
    [(size, booked, ratio)] = wait_shares(per_size(rows[:4]))
    assert (size, booked) == (100, None)
    assert ratio == pytest.approx((847 / 106) / (3845 / 106))


def test_replay_rows_compare_replay_with_solve_and_count_kept_arrivals():
    from scheduling.bench import replay_rows, replay_table

    [row] = replay_rows([(12, 0.0)], 1, 0.5, 1, booking_seconds=0.3)
    assert row.violations == 0
    assert row.announced == sum(row.replay_placed) and row.announced_kept == row.announced
    assert len(row.booking_seconds) == 12
    assert sum(row.replay_placed) > 0 and row.placed_share() > 0
    assert len(row.hindsight_wait) == 1 and 0 <= row.hindsight_wait[0] <= row.replay_wait[0]
    text = replay_table([row])
    assert "same patients known at once" in text
    assert "| 12 | 0% |" in text and "announced arrival to first step" in text
    assert 0 <= row.lobby_minutes <= 15 * row.announced and "announced arrivals kept" in text
    assert f"| 100% | {row.lobby_minutes / row.announced:.1f} | 0 |" in text


def test_same_patients_keeps_exactly_the_placed_requests_as_must_place():
    from scheduling.bench import same_patients
    from scheduling.generate import generate_day
    from scheduling.replay import replay

    instance = generate_day(14, seed=3, booked_share=0.0)
    replayed = replay(instance, booking_seconds=0.3)
    reduced = same_patients(instance, replayed)
    assert [r.id for r in reduced.requests] == [r.id for r in instance.requests if r.id in {v.request for v in replayed.visits}]
    assert all(r.must_place for r in reduced.requests)
    assert [r.arrival for r in reduced.requests] == [r.arrival for r in instance.requests if r.id in {q.id for q in reduced.requests}]
    assert reduced.booked == instance.booked and reduced.resources == instance.resources


def test_known_at_once_places_the_same_patients_and_waits_no_more():
    from scheduling.bench import known_at_once
    from scheduling.check import check, objective
    from scheduling.generate import generate_day
    from scheduling.replay import replay

    instance = generate_day(14, seed=3, booked_share=0.0)
    replayed = replay(instance, booking_seconds=0.3)
    half = dataclasses.replace(replayed, visits=replayed.visits[::2], unscheduled=())
    reduced, known = known_at_once(instance, half, time_limit=0.5, workers=1)
    assert check(reduced, known) == []
    assert sorted(v.request for v in known.visits) == sorted(v.request for v in half.visits)
    assert check(instance, known)  # the others are missing from the full day
    assert known.objective.total_wait_minutes <= objective(reduced, half.visits).total_wait_minutes
