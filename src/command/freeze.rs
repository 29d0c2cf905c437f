//! `freeze ENV [until HH:MM | for DURATION] [reason…]` and `unfreeze ENV`: their grammar, and
//! `FreezeEnd`, when a freeze ends (a UTC time of day or a duration), turned into an instant.

use std::fmt;

use super::error::{ErrorKind, quoted};
use super::model::Command;
use super::parse::{Args, Fail};
use super::verbs::REASON_MAX;

/// The longest freeze `for DURATION` gives, in minutes (366 days).
pub const FREEZE_MAX_MINUTES: u32 = 366 * 24 * 60;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// When a freeze ends by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreezeEnd {
    /// `until HH:MM`: the next time a UTC clock shows it (tomorrow if today's has passed).
    At { hour: u8, minute: u8 },
    /// `for 2h30m`: this many minutes from now (1 to `FREEZE_MAX_MINUTES`).
    For { minutes: u32 },
}

impl FreezeEnd {
    /// The instant the freeze ends, for a freeze starting at `now_ms` (ms since the epoch).
    pub fn end_ms(self, now_ms: i64) -> i64 {
        match self {
            FreezeEnd::At { hour, minute } => {
                let today = now_ms.div_euclid(DAY_MS) * DAY_MS;
                let at = today + (i64::from(hour) * 60 + i64::from(minute)) * MINUTE_MS;
                if at > now_ms { at } else { at + DAY_MS }
            }
            FreezeEnd::For { minutes } => now_ms + i64::from(minutes) * MINUTE_MS,
        }
    }
}

impl fmt::Display for FreezeEnd {
    /// `until 09:05`, `for 1d2h30m`: the canonical text, which parses back to the same end.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FreezeEnd::At { hour, minute } => write!(f, "until {hour:02}:{minute:02}"),
            FreezeEnd::For { minutes } => {
                f.write_str("for ")?;
                let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
                for (n, unit) in [(days, "d"), (hours, "h"), (mins, "m")] {
                    if n > 0 {
                        write!(f, "{n}{unit}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// `freeze ENV [until HH:MM | for DURATION] [reason…]`: the reason is the rest of the line.
pub(crate) fn freeze(a: &Args<'_>) -> Result<Command, Fail> {
    let w = a.words;
    let Some(env) = w.first() else {
        return Err(a.needs("an environment"));
    };
    let env = a.env(env)?;
    let mut rest = 1;
    let until = match w.get(1) {
        Some(word) if word.is("until") || word.is("for") => {
            let Some(value) = w.get(2) else {
                let what = if word.is("until") {
                    "a time like 17:30 (UTC)"
                } else {
                    "a duration like 30m, 2h or 1d"
                };
                return Err(a.needs_after(word, what));
            };
            rest = 3;
            Some(if word.is("until") {
                time_of_day(value.text)?
            } else {
                duration(value.text)?
            })
        }
        _ => None,
    };
    let reason = w.get(rest).map(|t| a.line[t.start..].trim().to_string());
    if let Some(len) = reason
        .as_ref()
        .map(|r| r.chars().count())
        .filter(|&n| n > REASON_MAX)
    {
        let reason =
            format!("a freeze reason is at most {REASON_MAX} characters; that one is {len}");
        return Err(Fail::new(ErrorKind::BadReason, reason));
    }
    Ok(Command::Freeze { env, until, reason })
}

/// `unfreeze ENV`
pub(crate) fn unfreeze(a: &Args<'_>) -> Result<Command, Fail> {
    match a.words {
        [] => Err(a.needs("an environment")),
        [env] => Ok(Command::Unfreeze { env: a.env(env)? }),
        [env, extra, ..] => Err(a.unexpected(extra).fix(a.line_from(&[env.text], &[]))),
    }
}

/// `17:30` or `9:05`, a UTC time of day.
fn time_of_day(text: &str) -> Result<FreezeEnd, Fail> {
    let parsed = text.split_once(':').and_then(|(h, m)| {
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
            return None;
        }
        let (hour, minute): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
        (hour < 24 && minute < 60).then_some(FreezeEnd::At { hour, minute })
    });
    parsed.ok_or_else(|| {
        let reason = format!("{} is not a time like 17:30 (UTC)", quoted(text));
        Fail::new(ErrorKind::BadTime, reason)
    })
}

/// `30m`, `2h`, `1d`, `1h30m`, `2d12h`: days, hours and minutes in that order, each at most once.
fn duration(text: &str) -> Result<FreezeEnd, Fail> {
    let bad = |why: &str| {
        let reason = format!("{} is not a duration like 30m, 2h or 1d{why}", quoted(text));
        Fail::new(ErrorKind::BadTime, reason)
    };
    let mut minutes: u64 = 0;
    let mut rest = text.to_ascii_lowercase();
    let mut last_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let unit_len = rest[digits..]
            .bytes()
            .take_while(u8::is_ascii_alphabetic)
            .count();
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        let (order, size) = match unit {
            "d" => (1, 1440),
            "h" => (2, 60),
            "m" | "min" => (3, 1),
            _ => return Err(bad("")),
        };
        if number.is_empty() || number.len() > 6 || order <= last_unit {
            return Err(bad(""));
        }
        last_unit = order;
        minutes += number.parse::<u64>().map_err(|_| bad(""))? * size;
        rest = rest[digits + unit_len..].to_string();
    }
    match u32::try_from(minutes) {
        Ok(0) => Err(bad(" (longer than none)")),
        Ok(minutes) if minutes <= FREEZE_MAX_MINUTES => Ok(FreezeEnd::For { minutes }),
        _ => Err(bad(" (at most 366d)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Name, parse};

    fn freeze_of(line: &str) -> (Option<FreezeEnd>, Option<String>) {
        match parse(line) {
            Ok(Command::Freeze { env, until, reason }) => {
                assert_eq!(env, Name::parse("live").unwrap());
                (until, reason)
            }
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn error(line: &str) -> String {
        parse(line).expect_err(line).to_string()
    }

    #[test]
    fn freeze_takes_an_end_and_a_reason_in_that_order() {
        assert_eq!(freeze_of("freeze live"), (None, None));
        assert_eq!(
            freeze_of("freeze live release week"),
            (None, Some("release week".into()))
        );
        assert_eq!(
            freeze_of("FREEZE live UNTIL 9:05   db  move "),
            (
                Some(FreezeEnd::At { hour: 9, minute: 5 }),
                Some("db  move".into())
            )
        );
        assert_eq!(
            freeze_of("freeze live for 1h30m"),
            (Some(FreezeEnd::For { minutes: 90 }), None)
        );
        assert_eq!(
            freeze_of("freeze live for 2d incident until fixed"),
            (
                Some(FreezeEnd::For { minutes: 2880 }),
                Some("incident until fixed".into())
            )
        );
        assert_eq!(
            freeze_of("freeze live for 45min").0,
            Some(FreezeEnd::For { minutes: 45 })
        );
    }

    #[test]
    fn bad_ends_are_refused_with_the_form_expected() {
        assert_eq!(
            error("freeze live until"),
            "\"until\" needs a time like 17:30 (UTC): freeze ENV [until HH:MM | for DURATION] [reason…]"
        );
        assert_eq!(
            error("freeze live for"),
            "\"for\" needs a duration like 30m, 2h or 1d: freeze ENV [until HH:MM | for DURATION] [reason…]"
        );
        for time in [
            "24:00", "12:60", "noon", "9", "9:5", "123:00", ":30", "-1:00",
        ] {
            assert_eq!(
                error(&format!("freeze live until {time}")),
                format!("\"{time}\" is not a time like 17:30 (UTC)"),
            );
        }
        for duration in ["soon", "2", "h", "2x", "30m2h", "1h1h", "2 h", "1.5h"] {
            let line = format!("freeze live for {duration}");
            let Err(e) = parse(&line) else {
                panic!("{line:?} parsed")
            };
            if duration == "2 h" {
                assert_eq!(e.kind, ErrorKind::BadTime, "{line}");
                continue;
            }
            assert_eq!(
                e.to_string(),
                format!("\"{duration}\" is not a duration like 30m, 2h or 1d"),
            );
        }
        assert_eq!(
            error("freeze live for 0m"),
            "\"0m\" is not a duration like 30m, 2h or 1d (longer than none)"
        );
        assert_eq!(
            error("freeze live for 367d"),
            "\"367d\" is not a duration like 30m, 2h or 1d (at most 366d)"
        );
        assert_eq!(
            error(&format!("freeze live {}", "x".repeat(201))),
            "a freeze reason is at most 200 characters; that one is 201"
        );
        assert_eq!(
            error("freeze"),
            "freeze needs an environment: freeze ENV [until HH:MM | for DURATION] [reason…]"
        );
        assert_eq!(
            error("freeze! live"),
            "freeze has no forced form: freeze ENV [until HH:MM | for DURATION] [reason…]. Did you mean \"freeze live\"?"
        );
    }

    #[test]
    fn unfreeze_takes_one_environment() {
        assert_eq!(
            parse("unfreeze live"),
            Ok(Command::Unfreeze {
                env: Name::parse("live").unwrap()
            })
        );
        assert_eq!(
            error("unfreeze live now"),
            "\"now\" doesn't fit there: unfreeze ENV. Did you mean \"unfreeze live\"?"
        );
        assert_eq!(
            error("unfreeze"),
            "unfreeze needs an environment: unfreeze ENV"
        );
    }

    #[test]
    fn a_time_of_day_ends_at_its_next_occurrence_in_utc() {
        // 2026-11-23 08:15:02 UTC
        let now = 1_795_421_702_000;
        let at = |hour, minute| FreezeEnd::At { hour, minute }.end_ms(now);
        assert_eq!(
            crate::clock::format_utc(at(17, 0)),
            "2026-11-23 17:00:00 UTC"
        );
        assert_eq!(
            crate::clock::format_utc(at(8, 0)),
            "2026-11-24 08:00:00 UTC"
        );
        assert_eq!(
            crate::clock::format_utc(at(8, 16)),
            "2026-11-23 08:16:00 UTC"
        );
        // Exactly now is not the future: tomorrow.
        let midnight = 1_795_392_000_000;
        assert_eq!(
            FreezeEnd::At { hour: 0, minute: 0 }.end_ms(midnight),
            midnight + DAY_MS
        );
        assert_eq!(
            FreezeEnd::For { minutes: 90 }.end_ms(now),
            now + 90 * MINUTE_MS
        );
    }

    #[test]
    fn canonical_ends_parse_back() {
        for (line, canonical) in [
            ("freeze live for 90m", "freeze live for 1h30m"),
            ("freeze live for 1d0h5m x", "freeze live for 1d5m x"),
            ("freeze live until 7:00", "freeze live until 07:00"),
            ("freeze live for 2h", "freeze live for 2h"),
        ] {
            let command = parse(line).unwrap();
            assert_eq!(command.to_string(), canonical, "{line}");
            assert_eq!(parse(canonical), Ok(command));
        }
    }
}
