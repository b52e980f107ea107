use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn scheduled(schedule: &str, hours: f64, zone: &str) -> Window {
    Window {
        name: Arc::from(schedule),
        timing: Timing::Schedule {
            cron: Box::new(parse_schedule(schedule).unwrap()),
            duration: TimeDelta::seconds((hours * 3600.0) as i64),
        },
        zone: parse_zone(zone).unwrap(),
    }
}

fn once(from: &str, until: &str) -> Window {
    Window {
        name: Arc::from("once"),
        timing: Timing::Once {
            from: at(from),
            until: at(until),
        },
        zone: Tz::UTC,
    }
}

/// The first `count` instants after `start` at which `window` opens or closes, each with
/// whether it is open from then on.
fn changes(window: &Window, start: &str, count: usize) -> Vec<(DateTime<Utc>, bool)> {
    let mut now = at(start);
    let mut seen = Vec::new();
    for _ in 0..count {
        let Some(next) = window.next_change(now) else {
            break;
        };
        assert!(next > now, "{next} after {now}");
        seen.push((next, window.is_open(next)));
        now = next;
    }
    seen
}

/// (case, window, start, the changes after it as (instant, open from then on)).
type Case<'a> = (&'a str, &'a Window, &'a str, Vec<(&'a str, bool)>);

#[test]
fn openings_and_closings_follow_the_zone_through_both_daylight_saving_changes() {
    let berlin_0230 = scheduled("30 2 * * *", 1.0, "Europe/Berlin");
    let cases: [Case<'_>; 3] = [
        (
            // 02:30 does not occur on 2026-03-29 (02:00 CET jumps to 03:00 CEST): the window
            // opens at the end of the gap and stays open for its hour of elapsed time.
            "spring forward",
            &berlin_0230,
            "2026-03-28T12:00:00+01:00",
            vec![
                ("2026-03-29T03:00:00+02:00", true),
                ("2026-03-29T04:00:00+02:00", false),
                ("2026-03-30T02:30:00+02:00", true),
                ("2026-03-30T03:30:00+02:00", false),
            ],
        ),
        (
            // 02:30 occurs twice on 2026-10-25 (03:00 CEST falls back to 02:00 CET): the
            // window opens once, at the first.
            "fall back",
            &berlin_0230,
            "2026-10-24T12:00:00+02:00",
            vec![
                ("2026-10-25T02:30:00+02:00", true),
                ("2026-10-25T02:30:00+01:00", false),
                ("2026-10-26T02:30:00+01:00", true),
                ("2026-10-26T03:30:00+01:00", false),
            ],
        ),
        (
            "a weekly window across the spring change lasts its elapsed hours",
            &scheduled("0 18 * * FRI", 62.0, "Europe/Berlin"),
            "2026-03-26T00:00:00Z",
            vec![
                ("2026-03-27T18:00:00+01:00", true),
                ("2026-03-30T09:00:00+02:00", false),
                ("2026-04-03T18:00:00+02:00", true),
            ],
        ),
    ];
    for (case, window, start, expected) in cases {
        let expected: Vec<_> = expected.into_iter().map(|(t, o)| (at(t), o)).collect();
        assert_eq!(changes(window, start, expected.len()), expected, "{case}");
    }
}

#[test]
fn whether_a_window_is_open_at_an_instant() {
    let nightly = scheduled("0 22 * * *", 4.0, "UTC");
    let month_end = scheduled("0 20 30 11 *", 8.0, "Europe/Berlin");
    let weekend = scheduled("0 18 * * FRI", 62.0, "Europe/Berlin");
    let year_end = once("2026-12-20T00:00:00+01:00", "2027-01-04T00:00:00+01:00");
    let cases = [
        (
            "across midnight, before",
            &nightly,
            "2026-05-04T21:59:59Z",
            false,
        ),
        (
            "across midnight, opening",
            &nightly,
            "2026-05-04T22:00:00Z",
            true,
        ),
        (
            "across midnight, after it",
            &nightly,
            "2026-05-05T01:59:59Z",
            true,
        ),
        (
            "across midnight, closing",
            &nightly,
            "2026-05-05T02:00:00Z",
            false,
        ),
        (
            "across a month end, in November",
            &month_end,
            "2026-11-30T23:00:00+01:00",
            true,
        ),
        (
            "across a month end, in December",
            &month_end,
            "2026-12-01T03:59:00+01:00",
            true,
        ),
        (
            "across a month end, closed",
            &month_end,
            "2026-12-01T04:00:00+01:00",
            false,
        ),
        (
            "weekend, Friday evening",
            &weekend,
            "2026-12-04T18:00:00+01:00",
            true,
        ),
        (
            "weekend, Monday early",
            &weekend,
            "2026-12-07T07:59:00+01:00",
            true,
        ),
        (
            "weekend, Monday 08:00",
            &weekend,
            "2026-12-07T08:00:00+01:00",
            false,
        ),
        (
            "weekend, Wednesday",
            &weekend,
            "2026-12-09T12:00:00+01:00",
            false,
        ),
        (
            "one-off, before",
            &year_end,
            "2026-12-19T23:59:59+01:00",
            false,
        ),
        (
            "one-off, from",
            &year_end,
            "2026-12-20T00:00:00+01:00",
            true,
        ),
        ("one-off, inside", &year_end, "2026-12-31T23:00:00Z", true),
        (
            "one-off, until",
            &year_end,
            "2027-01-04T00:00:00+01:00",
            false,
        ),
    ];
    for (case, window, now, open) in cases {
        assert_eq!(window.is_open(at(now)), open, "{case}");
    }
}

#[test]
fn a_one_off_window_opens_once_and_never_again() {
    let window = once("2026-12-20T00:00:00+01:00", "2027-01-04T00:00:00+01:00");
    assert_eq!(
        changes(&window, "2026-01-01T00:00:00Z", 5),
        [
            (at("2026-12-20T00:00:00+01:00"), true),
            (at("2027-01-04T00:00:00+01:00"), false),
        ]
    );
    assert_eq!(
        window.closes_after(at("2026-12-25T00:00:00Z")),
        Some(at("2027-01-04T00:00:00+01:00"))
    );
}

#[test]
fn overlapping_occurrences_keep_a_window_open_until_the_last_closes() {
    // Opens Monday to Wednesday at 20:00 for 30 hours: each opening comes while the last is
    // open, so it is open from Monday 20:00 until Friday 02:00.
    let window = scheduled("0 20 * * MON-WED", 30.0, "UTC");
    let cases = [
        ("Monday 19:00", "2026-12-07T19:00:00Z", None),
        (
            "Monday 20:00",
            "2026-12-07T20:00:00Z",
            Some("2026-12-11T02:00:00Z"),
        ),
        (
            "Thursday 12:00",
            "2026-12-10T12:00:00Z",
            Some("2026-12-11T02:00:00Z"),
        ),
        (
            "Friday 01:59",
            "2026-12-11T01:59:00Z",
            Some("2026-12-11T02:00:00Z"),
        ),
        ("Friday 02:00", "2026-12-11T02:00:00Z", None),
    ];
    for (case, now, closes) in cases {
        assert_eq!(window.closes_after(at(now)), closes.map(at), "{case}");
    }
}

#[test]
fn the_open_set_holds_until_the_next_change_of_any_window() {
    let windows = Windows::new(vec![
        scheduled("0 18 * * FRI", 62.0, "Europe/Berlin"),
        once("2026-12-20T00:00:00+01:00", "2027-01-04T00:00:00+01:00"),
        scheduled("0 8 * * MON-FRI", 10.0, "Europe/Berlin"),
    ]);
    let cases = [
        (
            "Saturday before Christmas",
            "2026-12-19T12:00:00+01:00",
            [true, false, false],
        ),
        (
            "the Sunday after",
            "2026-12-20T12:00:00+01:00",
            [true, true, false],
        ),
        (
            "Monday in business hours",
            "2026-12-21T09:00:00+01:00",
            [false, true, true],
        ),
        (
            "Monday evening",
            "2026-12-21T18:00:00+01:00",
            [false, true, false],
        ),
        (
            "back on Saturday",
            "2026-12-19T12:00:00+01:00",
            [true, false, false],
        ),
        ("January", "2027-01-05T09:00:00+01:00", [false, false, true]),
    ];
    for (case, now, open) in cases {
        let set = windows.open_at(at(now));
        let seen: Vec<bool> = (0..3).map(|i| set.contains(i)).collect();
        assert_eq!(seen, open, "{case}");
    }
}

#[test]
fn bad_schedules_and_zones_are_refused() {
    assert!(parse_schedule("0 18 * * FRI").is_ok());
    assert!(
        parse_schedule("0 0 18 * * FRI").is_err(),
        "seconds are not part of the language"
    );
    assert!(parse_schedule("61 * * * *").is_err());
    assert!(parse_schedule("every friday").is_err());
    assert!(parse_zone("Europe/Berlin").is_some());
    assert!(parse_zone("Europe/Bonn").is_none());
}

#[test]
fn instants_show_in_the_window_zone() {
    let weekend = scheduled("0 18 * * FRI", 62.0, "Europe/Berlin");
    let now = at("2026-12-05T10:00:00+01:00");
    assert_eq!(
        weekend.show_instant(at("2026-12-07T08:00:00+01:00"), now),
        "Mon 08:00 CET"
    );
    assert_eq!(
        weekend.show_instant(at("2027-01-04T00:00:00+01:00"), now),
        "2027-01-04 00:00 CET"
    );
}
