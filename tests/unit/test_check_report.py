"""domain/check_report.py: a check holds or lists its failures, 20 at most, then a count of the rest."""

from domain.check_report import PROBLEMS_PER_CHECK, CheckReport


def test_a_check_that_holds_is_named_and_the_report_stays_ok() -> None:
    report = CheckReport()
    report.expect("books balance", [])
    assert (report.ok, report.checked, report.problems) == (True, ["books balance"], [])


def test_up_to_the_limit_every_failure_is_listed() -> None:
    report = CheckReport()
    report.expect("c", [str(i) for i in range(PROBLEMS_PER_CHECK)])
    assert not report.ok and report.checked == []
    assert report.problems == [f"c: {i}" for i in range(PROBLEMS_PER_CHECK)]


def test_past_the_limit_the_rest_are_counted_in_one_line() -> None:
    report = CheckReport()
    report.expect("c", [str(i) for i in range(PROBLEMS_PER_CHECK + 1)])
    assert len(report.problems) == PROBLEMS_PER_CHECK + 1
    assert report.problems[-1] == "c: … and 1 more"
