//! Deploy windows: whether an instant is inside an environment's `windows` (UTC), and when the
//! next one opens. Pure: the time is passed in.

use super::CheckInput;
use crate::config::{DAYS, Window};

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// Monday = 0. The epoch, 1970-01-01, was a Thursday.
fn weekday(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

/// Whether `now_ms` is inside `window`. A window that ends past midnight belongs to its
/// starting day and runs into the next.
fn inside(window: &Window, now_ms: i64) -> bool {
    let day = now_ms.div_euclid(DAY_MS);
    let minute = now_ms.rem_euclid(DAY_MS) / MINUTE_MS;
    let (start, end) = (i64::from(window.start), i64::from(window.end));
    let today = window.days[weekday(day)];
    if start < end {
        today && (start..end).contains(&minute)
    } else {
        let yesterday = window.days[weekday(day - 1)];
        (today && minute >= start) || (yesterday && minute < end)
    }
}

/// Whether deploys are taken at `now_ms`: inside any window (always, when there are none).
pub fn is_open(windows: &[Window], now_ms: i64) -> bool {
    windows.is_empty() || windows.iter().any(|w| inside(w, now_ms))
}

/// When the next window opens after `now_ms`; `None` when there are no windows.
pub fn next_opening(windows: &[Window], now_ms: i64) -> Option<i64> {
    let today = now_ms.div_euclid(DAY_MS);
    windows
        .iter()
        .flat_map(|w| {
            (0..=7).filter_map(move |offset| {
                let day = today + offset;
                let opens = day * DAY_MS + i64::from(w.start) * MINUTE_MS;
                (w.days[weekday(day)] && opens > now_ms).then_some(opens)
            })
        })
        .min()
}

/// `Mon 2026-11-23 09:00 UTC`
fn when(ms: i64) -> String {
    let full = crate::clock::format_utc(ms);
    format!(
        "{} {} UTC",
        DAYS[weekday(ms.div_euclid(DAY_MS))],
        &full[..16]
    )
}

/// The `window` check: refuses outside the windows, naming them and the next opening.
pub(super) fn check(input: &CheckInput<'_>) -> Result<(), String> {
    let windows = &input.env.checks.windows;
    if is_open(windows, input.now_ms) {
        return Ok(());
    }
    let written: Vec<&str> = windows.iter().map(|w| w.text.as_str()).collect();
    let next = next_opening(windows, input.now_ms)
        .map(|at| format!("; the next window opens {}", when(at)))
        .unwrap_or_default();
    Err(format!(
        "{} takes deploys only {} (UTC), and it is {}{next}",
        input.env.name,
        written.join(", "),
        when(input.now_ms),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(texts: &[&str]) -> Vec<Window> {
        texts.iter().map(|t| Window::parse(t).expect(t)).collect()
    }

    /// Minutes into the week of 2026-11-23 (a Monday), as ms.
    fn at(day: i64, hh: i64, mm: i64) -> i64 {
        const MONDAY: i64 = 1_795_392_000_000; // 2026-11-23 00:00 UTC
        MONDAY + day * DAY_MS + (hh * 60 + mm) * MINUTE_MS
    }

    #[test]
    fn the_reference_monday_is_a_monday() {
        assert_eq!(when(at(0, 9, 0)), "Mon 2026-11-23 09:00 UTC");
        assert_eq!(when(at(5, 23, 59)), "Sat 2026-11-28 23:59 UTC");
        assert_eq!(weekday(0), 3, "1970-01-01 was a Thursday");
    }

    #[test]
    fn office_hours() {
        let w = windows(&["Mon-Fri 09:00-17:00"]);
        assert!(!is_open(&w, at(0, 8, 59)));
        assert!(is_open(&w, at(0, 9, 0)));
        assert!(is_open(&w, at(4, 16, 59)));
        assert!(!is_open(&w, at(4, 17, 0)));
        assert!(!is_open(&w, at(5, 12, 0)));
        assert_eq!(next_opening(&w, at(0, 8, 59)), Some(at(0, 9, 0)));
        assert_eq!(next_opening(&w, at(0, 9, 0)), Some(at(1, 9, 0)));
        assert_eq!(next_opening(&w, at(4, 17, 0)), Some(at(7, 9, 0)));
        assert_eq!(next_opening(&w, at(5, 12, 0)), Some(at(7, 9, 0)));
    }

    #[test]
    fn windows_past_midnight_belong_to_their_first_day() {
        let w = windows(&["Fri 22:00-06:00"]);
        assert!(!is_open(&w, at(4, 21, 59)));
        assert!(is_open(&w, at(4, 22, 0)));
        assert!(is_open(&w, at(5, 5, 59)));
        assert!(!is_open(&w, at(5, 6, 0)));
        assert!(
            !is_open(&w, at(5, 22, 30)),
            "Saturday night is not Friday's"
        );
        assert!(!is_open(&w, at(0, 2, 0)), "nor is Monday morning");
        assert_eq!(next_opening(&w, at(5, 23, 0)), Some(at(11, 22, 0)));
    }

    #[test]
    fn several_windows_and_none() {
        let w = windows(&["Mon-Fri 09:00-12:00", "Sat 10:00-11:00", "13:00-14:00"]);
        assert!(is_open(&w, at(5, 10, 30)));
        assert!(is_open(&w, at(6, 13, 30)));
        assert!(!is_open(&w, at(6, 12, 30)));
        assert_eq!(next_opening(&w, at(6, 12, 30)), Some(at(6, 13, 0)));
        assert_eq!(next_opening(&w, at(6, 14, 0)), Some(at(7, 9, 0)));
        assert!(is_open(&[], at(6, 3, 0)));
        assert_eq!(next_opening(&[], at(6, 3, 0)), None);
        let all_day = windows(&["Sun 00:00-24:00"]);
        assert!(is_open(&all_day, at(6, 23, 59)));
        assert!(!is_open(&all_day, at(7, 0, 0)));
    }
}
