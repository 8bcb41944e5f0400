"""The benchmark's pooling: the issue's table per size over every day of it, and the wait shares."""

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
    text = replay_table([row])
    assert "| 12 | 0% |" in text and "announced arrivals kept" in text and "| 100% | 0 |" in text
