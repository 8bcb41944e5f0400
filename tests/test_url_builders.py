"""The test run's shared URL builders (``tests/url_builders.py``) build what werkzeug's own would."""

from werkzeug.routing import Map, Rule

from tests import url_builders


def _built(rule: Rule, values: dict, append_unknown: bool) -> tuple[str, str]:
    return rule._compile_builder(append_unknown).__get__(rule, None)(**values)


def test_every_rule_of_two_test_apps_builds_as_a_fresh_compile_would(app):
    from clinic import create_app

    second = create_app({**app.config})
    for one in (app, second):
        for rule in one.url_map.iter_rules():
            values = {name: "7" if name != "filename" else "a b/c.css" for name in rule.arguments}
            for append_unknown in (False, True):
                extra = {"q": "x y", "page": "2"} if append_unknown else {}
                cached = _built(rule, {**values, **extra}, append_unknown)
                fresh = url_builders._ORIGINAL(rule, append_unknown).__get__(rule, None)(**values, **extra)
                assert cached == fresh, rule.rule


def test_a_rule_that_differs_only_in_a_default_of_its_own_placeholder_is_built_afresh():
    url_builders.install()
    one = Rule("/day/<int:n>", endpoint="a", defaults={"n": 1})
    two = Rule("/day/<int:n>", endpoint="b", defaults={"n": 2})
    Map([one, two])
    assert one.build({"n": 1}) == ("", "/day/1")
    assert two.build({"n": 2}) == ("", "/day/2")
    assert one._build is not two._build


def test_equal_rules_of_different_maps_share_one_compiled_builder():
    url_builders.install()
    first, second = Rule("/patients/<int:patient_id>", endpoint="p"), Rule("/patients/<int:patient_id>", endpoint="p")
    Map([first]), Map([second])
    assert first._build.__func__ is second._build.__func__
    assert first.build({"patient_id": 3}) == second.build({"patient_id": 3}) == ("", "/patients/3")
    assert first.build({"patient_id": 3, "q": "a b"}) == ("", "/patients/3?q=a+b")
