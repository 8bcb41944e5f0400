"""Reasons for unscheduled requests, found by relaxing one constraint family at a time."""

import pytest

from scheduling.explain import CODES, explain, explain_unscheduled


@pytest.fixture
def resources(mk):
    return [
        mk.resource("desk", "registration", available=[(480, 1020)], attributes=["wheelchair"]),
        mk.resource("dr-jansen", "consult", available=[(480, 720)]),
        mk.resource("dr-bakker", "consult", available=[(480, 1020)]),
        mk.resource("chairs", "chair", capacity=2, available=[(480, 1080)]),
        mk.resource("imaging-1", "imaging", available=[(480, 900)], attributes=["wheelchair"]),
        mk.resource("imaging-2", "imaging", available=[(480, 1020)]),
    ]


def treatment(mk, **kwargs):
    return mk.request("r", [mk.step("reg", "registration", 10),
                            mk.step("treat", "chair", 180, after=["reg"], max_gap=30)], **kwargs)


def test_chair_pool_full_after_one_oclock(mk, resources):
    booked = [mk.visit(f"b{i}", ("t", "chairs", 780, 1080)) for i in (1, 2)]
    day = mk.instance(resources, [], booked=booked)
    reason = explain(day, [], treatment(mk, arrival=(750, 800)))
    assert (reason.code, reason.kind, reason.step, reason.minutes) == ("no-free-slot", "chair", "treat", 180)
    assert reason.text.startswith("no chair free for 180 minutes between 12:40")
    assert explain(mk.instance(resources, []), [], treatment(mk, arrival=(750, 800))).code == "fits"


def test_placed_visits_count_like_booked_ones(mk, resources):
    placed = [mk.visit(f"b{i}", ("t", "chairs", 780, 1080)) for i in (1, 2)]
    day = mk.instance(resources, [])
    assert explain(day, placed, treatment(mk, arrival=(750, 800))).code == "no-free-slot"
    text = explain_unscheduled(day, placed, treatment(mk, arrival=(750, 800)))
    assert text == explain(day, placed, treatment(mk, arrival=(750, 800))).text


def test_consultant_fully_booked(mk, resources):
    day = mk.instance(resources, [], booked=[mk.visit("b", ("c", "dr-jansen", 480, 720))])
    req = mk.request("r", [mk.step("reg", "registration", 10),
                           mk.step("c", "consult", 20, after=["reg"], resources=["dr-jansen"])], arrival=(480, 700))
    reason = explain(day, [], req)
    assert (reason.code, reason.resource) == ("fully-booked", "dr-jansen")
    assert reason.text.startswith("dr-jansen fully booked")


def test_consultant_busy_when_the_visit_needs_him(mk, resources):
    day = mk.instance(resources, [], booked=[mk.visit("b", ("c", "dr-jansen", 480, 660))])
    req = mk.request("r", [mk.step("reg", "registration", 10),
                           mk.step("c", "consult", 20, after=["reg"], max_gap=10, resources=["dr-jansen"])],
                     arrival=(480, 600))
    reason = explain(day, [], req)
    assert (reason.code, reason.resource) == ("busy", "dr-jansen")


def test_attribute_equipped_resource_closed(mk, resources):
    req = mk.request("r", [mk.step("reg", "registration", 10), mk.step("img", "imaging", 30, after=["reg"])],
                     arrival=(890, 960), requires=["wheelchair"])
    reason = explain(mk.instance(resources, []), [], req)
    assert (reason.code, reason.kind, reason.attribute) == ("attribute-closed", "imaging", "wheelchair")
    assert reason.text == "imaging with wheelchair is closed after 15:00"


def test_resource_closed_when_needed(mk, resources):
    req = mk.request("r", [mk.step("c", "consult", 30, resources=["dr-jansen"])], arrival=(700, 710))
    reason = explain(mk.instance(resources, []), [], req)
    assert (reason.code, reason.resource) == ("closed", "dr-jansen")
    assert reason.text == "dr-jansen is not available for 30 minutes after 11:40"


def test_own_window_too_short(mk, resources):
    req = mk.chain("r", ("registration", 10), ("chair", 230), arrival=(480, 540), leave_by=600)
    reason = explain(mk.instance(resources, []), [], req)
    assert reason.code == "window-too-short"
    assert reason.text == "arrival window 08:00–09:00 and leave-by 10:00 leave no room for 240 minutes of steps"
    longer = mk.chain("r", ("registration", 10), ("chair", 230), max_visit_minutes=200)
    assert explain(mk.instance(resources, []), [], longer).code == "max-span-too-short"


def test_nobody_carries_the_attribute(mk, resources):
    req = mk.chain("r", ("registration", 10), ("imaging", 20), requires=["bariatric"])
    reason = explain(mk.instance(resources, []), [], req)
    assert (reason.code, reason.kind) == ("missing-attribute", "registration")
    assert reason.text == "no resource of kind 'registration' carries 'bariatric'"
    assert explain(mk.instance(resources, []), [], mk.chain("r", ("dialysis", 20))).code == "no-resource-kind"


def test_leave_by_when_no_single_bottleneck_explains_it(mk, resources):
    booked = [mk.visit("d", ("r", "desk", 480, 600))] + [mk.visit(f"c{i}", ("t", "chairs", 480, 650)) for i in (1, 2)]
    req = mk.chain("r", ("registration", 10), ("chair", 60), arrival=(480, 700), leave_by=660)
    reason = explain(mk.instance(resources, [], booked=booked), [], req)
    assert reason.code == "leave-by"
    assert reason.text == "no room before the leave-by time 11:00 (earliest finish 11:50)"


def test_every_code_is_declared(mk, resources):
    day = mk.instance(resources, [], booked=[mk.visit("b", ("c", "dr-jansen", 480, 720))])
    for req in (treatment(mk), mk.chain("r", ("consult", 20)), mk.chain("r", ("imaging", 10), leave_by=400)):
        assert explain(day, [], req).code in CODES


def test_equipped_resource_busy_while_others_are_free(mk, resources):
    day = mk.instance(resources, [], booked=[mk.visit("b", ("i", "imaging-1", 480, 900))])
    req = mk.chain("r", ("registration", 10), ("imaging", 30), arrival=(480, 700), requires=["wheelchair"])
    reason = explain(day, [], req)
    assert (reason.code, reason.kind, reason.attribute) == ("attribute-busy", "imaging", "wheelchair")
    assert reason.text == "every imaging with wheelchair is booked between 08:10 and 15:00; others are free"


def test_restricted_consultant_booked_while_a_colleague_is_free(mk, resources):
    day = mk.instance(resources, [], booked=[mk.visit("b", ("c", "dr-jansen", 480, 720))])
    req = mk.request("r", [mk.step("c", "consult", 20, resources=["dr-jansen"])], arrival=(480, 700))
    assert explain(day, [], req).text == "dr-jansen fully booked between 08:00 and 12:00; another consult is free"


def test_several_kinds_blocking_together(mk, resources):
    booked = [mk.visit("d", ("r", "desk", 490, 1020))]
    for i in (1, 2):
        booked += [mk.visit(f"i{i}", ("l", f"imaging-{i}", 480, 600), ("m", f"imaging-{i}", 610, 900)),
                   mk.visit(f"c{i}", ("t", "chairs", 480, 700), ("u", "chairs", 710, 1080))]
    booked.append(mk.visit("i3", ("m", "imaging-2", 900, 1020)))
    req = mk.request("r", [mk.step("reg", "registration", 10), mk.step("img", "imaging", 10, after=["reg"], max_gap=0),
                           mk.step("t", "chair", 10, after=["img"], max_gap=0)])
    reason = explain(mk.instance(resources, [], booked=booked), [], req)
    assert reason.code == "day-full" and reason.minutes == 2
    assert reason.text.startswith("the day is too busy: even the best placement (arriving at 08:00) would need imaging and chair")


def test_resource_closed_all_day(mk):
    """A kind whose only resource has no opening hours that day (a closure) is named, not a crash."""
    closed = [mk.resource("desk", "registration", available=[(480, 1020)]),
              mk.resource("ecg-1", "ecg", available=[])]
    req = mk.request("r", [mk.step("reg", "registration", 10), mk.step("ecg", "ecg", 20, after=["reg"])])
    reason = explain(mk.instance(closed, []), [], req)
    assert (reason.code, reason.resource) == ("closed", "ecg-1")
    assert reason.text == "ecg-1 is closed all day"
