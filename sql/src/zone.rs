//! Time zones: the session's (`SET TIME ZONE`, in which timestamps with
//! time zone are shown and read, dates cut and calendar arithmetic done)
//! and the zones `AT TIME ZONE` names — the IANA database's zones (with
//! their daylight-saving rules, from `chrono-tz`), UTC's names,
//! PostgreSQL's fixed abbreviations (`EST`, `CEST`, …) and POSIX offsets
//! (`UTC+5`, `+05:30`: hours *west* of Greenwich, as PostgreSQL reads
//! them).
//!
//! The session's zone reaches the evaluator as PostgreSQL's does, as
//! ambient state: a session runs each statement in [`scoped`] (a task
//! local), and synchronous work elsewhere — a computation moved off the
//! runtime's reactor, the PostgreSQL port's row encoding — in
//! [`with_zone`]. Outside both it is UTC.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::OnceLock;

use chrono::{LocalResult, NaiveDateTime, Offset, TimeZone};
use chrono_tz::{OffsetName, Tz};

use crate::error::{Result, SqlError};

/// A time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zone {
    /// A fixed offset, in seconds east of Greenwich.
    Fixed(i32),
    /// A zone of the IANA database.
    Named(Tz),
}

impl Default for Zone {
    fn default() -> Self {
        Zone::UTC
    }
}

thread_local! {
    /// The zone of synchronous work in [`with_zone`] (ahead of the task's).
    static CURRENT: Cell<Option<Zone>> = const { Cell::new(None) };
}

tokio::task_local! {
    /// The zone of the statement a session is running.
    static SESSION: Zone;
}

/// The zone in force here: [`with_zone`]'s, else [`scoped`]'s, else UTC.
pub fn current() -> Zone {
    CURRENT
        .with(Cell::get)
        .or_else(|| SESSION.try_with(|z| *z).ok())
        .unwrap_or(Zone::UTC)
}

/// Runs `f` with `zone` in force on this thread.
pub fn with_zone<T>(zone: Zone, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Zone>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(Some(zone))));
    f()
}

/// `fut` with `zone` in force (across its awaits), on the heap: a
/// statement's future is large in a debug build, and a worker thread's
/// stack is not.
pub fn scoped<F: Future>(
    zone: Zone,
    fut: F,
) -> std::pin::Pin<Box<impl Future<Output = F::Output>>> {
    Box::pin(SESSION.scope(zone, fut))
}

/// The IANA zones by lowercase name (PostgreSQL looks names up without
/// regard to case).
fn by_name() -> &'static HashMap<String, Tz> {
    static NAMES: OnceLock<HashMap<String, Tz>> = OnceLock::new();
    NAMES.get_or_init(|| {
        chrono_tz::TZ_VARIANTS
            .iter()
            .map(|tz| (tz.name().to_ascii_lowercase(), *tz))
            .collect()
    })
}

/// PostgreSQL's fixed-offset abbreviations (its default set), in hours
/// east of Greenwich.
const ABBREVIATIONS: &[(&str, i32)] = &[
    ("est", -5),
    ("edt", -4),
    ("cst", -6),
    ("cdt", -5),
    ("mst", -7),
    ("mdt", -6),
    ("pst", -8),
    ("pdt", -7),
    ("akst", -9),
    ("akdt", -8),
    ("hst", -10),
    ("cet", 1),
    ("cest", 2),
    ("eet", 2),
    ("eest", 3),
    ("bst", 1),
    ("ist", 2),
    ("msk", 3),
    ("sgt", 8),
    ("jst", 9),
    ("kst", 9),
    ("aest", 10),
    ("aedt", 11),
    ("nzst", 12),
    ("nzdt", 13),
];

/// Names of UTC itself.
const UTC_NAMES: &[&str] = &[
    "utc",
    "ut",
    "uct",
    "gmt",
    "z",
    "zulu",
    "universal",
    "greenwich",
    "etc/utc",
    "etc/uct",
    "etc/gmt",
    "etc/universal",
    "etc/zulu",
    "etc/greenwich",
];

impl Zone {
    /// UTC.
    pub const UTC: Zone = Zone::Fixed(0);

    /// The zone `AT TIME ZONE name` means: UTC's names, then PostgreSQL's
    /// abbreviations, then the IANA database, then a POSIX offset; 22023
    /// for anything else.
    pub fn named(name: &str) -> Result<Zone> {
        let lower = name.trim().to_ascii_lowercase();
        if UTC_NAMES.contains(&lower.as_str()) {
            return Ok(Zone::UTC);
        }
        if let Some((_, hours)) = ABBREVIATIONS.iter().find(|(a, _)| *a == lower) {
            return Ok(Zone::Fixed(hours * 3600));
        }
        if let Some(tz) = by_name().get(&lower) {
            return Ok(Zone::Named(*tz));
        }
        posix_east(&lower).map(Zone::Fixed).ok_or_else(|| {
            SqlError::invalid_parameter(format!("time zone \"{name}\" not recognized"))
        })
    }

    /// The zone a `TimeZone` setting names, and how `SHOW TimeZone` then
    /// writes it: an IANA zone (its own spelling), a number of hours east
    /// (SQL's sign, as `SET TIME ZONE -7` gives), an interval, or a POSIX
    /// offset; `LOCAL` and `DEFAULT` are UTC. 22023 otherwise.
    pub fn setting(value: &str) -> Result<(Zone, String)> {
        let bad = || {
            SqlError::invalid_parameter(format!(
                "invalid value for parameter \"TimeZone\": \"{value}\""
            ))
        };
        let v = value.trim();
        let lower = v.to_ascii_lowercase();
        if lower == "local" || lower == "default" {
            return Ok((Zone::UTC, "UTC".to_string()));
        }
        if let Some(tz) = by_name().get(&lower) {
            return Ok((Zone::Named(*tz), tz.name().to_string()));
        }
        if let Ok(hours) = v.parse::<f64>() {
            if !hours.is_finite() || hours.abs() > 15.0 * 24.0 {
                return Err(bad());
            }
            let east = (hours * 3600.0).round() as i32;
            return Ok((Zone::Fixed(east), offset_name(east)));
        }
        if let Some(iv) = lower.strip_prefix("interval") {
            // `INTERVAL '+05:30' HOUR TO MINUTE`: the quoted `[+-]hh[:mm]`,
            // hours east.
            let text = iv.split('\'').nth(1).unwrap_or(iv).trim();
            let west = posix_east(text).ok_or_else(bad)?;
            return Ok((Zone::Fixed(-west), offset_name(-west)));
        }
        // `<-07>+07`, as SHOW writes a zone set by a number.
        let posix = match lower.strip_prefix('<').and_then(|r| r.split_once('>')) {
            Some((_, offset)) => offset,
            None => lower.as_str(),
        };
        let east = posix_east(posix).ok_or_else(bad)?;
        Ok((Zone::Fixed(east), v.to_string()))
    }

    /// Seconds east of Greenwich at the UTC time `utc`.
    pub fn offset_at(self, utc: NaiveDateTime) -> i32 {
        match self {
            Zone::Fixed(east) => east,
            Zone::Named(tz) => tz.offset_from_utc_datetime(&utc).fix().local_minus_utc(),
        }
    }

    /// The zone's abbreviation at the UTC time `utc` (`EST`, `CEST`), or
    /// its offset where it has none (as `to_char`'s `TZ` writes it).
    pub fn abbreviation_at(self, utc: NaiveDateTime) -> String {
        if let Zone::Named(tz) = self
            && let Some(a) = tz.offset_from_utc_datetime(&utc).abbreviation()
        {
            return a.to_string();
        }
        if self == Zone::UTC {
            return "UTC".to_string();
        }
        offset_text(self.offset_at(utc))
    }

    /// The wall-clock time here at the UTC time `utc`.
    pub fn local(self, utc: NaiveDateTime) -> NaiveDateTime {
        utc + chrono::Duration::seconds(i64::from(self.offset_at(utc)))
    }

    /// The UTC time of the wall-clock time `local` here. As PostgreSQL
    /// reads one: a time skipped when clocks go forward is read with the
    /// offset before the change (02:30 on the day clocks go from 02:00 to
    /// 03:00 is 03:30 in the new offset); a time that happens twice when
    /// they go back is the later one (standard time).
    pub fn utc(self, local: NaiveDateTime) -> NaiveDateTime {
        let east = match self {
            Zone::Fixed(east) => east,
            Zone::Named(tz) => match tz.offset_from_local_datetime(&local) {
                LocalResult::Single(o) => o.fix().local_minus_utc(),
                LocalResult::Ambiguous(_, later) => later.fix().local_minus_utc(),
                LocalResult::None => chrono_tz::GapInfo::new(&local, &tz)
                    .and_then(|g| g.begin)
                    .map_or(0, |(_, before)| before.fix().local_minus_utc()),
            },
        };
        local - chrono::Duration::seconds(i64::from(east))
    }
}

/// A POSIX zone spec — an optional name, then `[+-]hh[:mm[:ss]]` hours
/// west — as seconds east.
fn posix_east(lower: &str) -> Option<i32> {
    let spec = lower.strip_prefix("etc/").unwrap_or(lower);
    let digits_at = spec.find(|c: char| c.is_ascii_digit() || c == '+' || c == '-')?;
    let (abbrev, offset) = spec.split_at(digits_at);
    if !abbrev.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let (west, hms) = match offset.as_bytes().first() {
        Some(b'-') => (-1, &offset[1..]),
        Some(b'+') => (1, &offset[1..]),
        _ => (1, offset),
    };
    let mut parts = hms.split(':');
    let mut seconds = 0i32;
    for (i, unit) in [3600, 60, 1].iter().enumerate() {
        let Some(p) = parts.next() else { break };
        let n: i32 = p.parse().ok()?;
        if p.is_empty() || p.len() > 2 || (i > 0 && n > 59) || (i == 0 && n > 15 * 24) {
            return None;
        }
        seconds += n * unit;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(-west * seconds)
}

/// An offset as PostgreSQL writes it after a time: `+05`, `-03:30`,
/// `-04:56:02`.
pub fn offset_text(east: i32) -> String {
    let sign = if east < 0 { '-' } else { '+' };
    let a = east.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    match (m, s) {
        (0, 0) => format!("{sign}{h:02}"),
        (_, 0) => format!("{sign}{h:02}:{m:02}"),
        _ => format!("{sign}{h:02}:{m:02}:{s:02}"),
    }
}

/// How `SHOW TimeZone` names a fixed offset set by a number or an
/// interval: `<-07>+07` (the POSIX form, hours west after the name).
fn offset_name(east: i32) -> String {
    let west = offset_text(-east);
    let east = offset_text(east);
    format!("<{east}>{west}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn zones_read_as_postgresql_reads_them() {
        let h = 3600;
        for (name, east) in [
            ("UTC", 0),
            ("Etc/UTC", 0),
            ("gmt", 0),
            ("Z", 0),
            ("EST", -5 * h),
            ("CEST", 2 * h),
            ("NZST", 12 * h),
            ("+05:30", -5 * h - 30 * 60),
            ("UTC+5", -5 * h),
            ("UTC-03:30", 3 * h + 30 * 60),
            ("Etc/GMT+5", -5 * h),
            ("-03", 3 * h),
            ("5", -5 * h),
            ("abc+5", -5 * h),
        ] {
            let zone = Zone::named(name).unwrap();
            assert_eq!(zone.offset_at(at("2024-01-01 00:00")), east, "{name}");
        }
        assert_eq!(
            Zone::named("america/new_york").unwrap(),
            Zone::Named(chrono_tz::America::New_York)
        );
        for bad in ["Mars/Base", "", "UTC+", "+5:99", "u2c+5", "+1:2:3:4"] {
            assert_eq!(Zone::named(bad).unwrap_err().code, "22023", "{bad}");
        }
    }

    #[test]
    fn settings_name_zones_as_postgresql_shows_them() {
        let show = |v: &str| Zone::setting(v).unwrap().1;
        assert_eq!(show("europe/berlin"), "Europe/Berlin");
        assert_eq!(show("-7"), "<-07>+07");
        assert_eq!(show("5.5"), "<+05:30>-05:30");
        assert_eq!(show("UTC+5"), "UTC+5");
        assert_eq!(show("DEFAULT"), "UTC");
        assert_eq!(Zone::setting("-7").unwrap().0, Zone::Fixed(-7 * 3600));
        // What SHOW wrote reads back as the same zone.
        assert_eq!(Zone::setting("<-07>+07").unwrap().0, Zone::Fixed(-7 * 3600));
        assert_eq!(
            Zone::setting("<+05:30>-05:30").unwrap().0,
            Zone::Fixed(19800)
        );
        assert_eq!(Zone::setting("CEST").unwrap_err().code, "22023");
    }

    #[test]
    fn wall_clock_times_map_to_utc_as_postgresql_maps_them() {
        let chicago = Zone::named("America/Chicago").unwrap();
        // Clocks went forward at 02:00: 02:30 is read as CST.
        assert_eq!(chicago.utc(at("2018-03-11 02:30")), at("2018-03-11 08:30"));
        // Clocks went back at 02:00: 01:30 happened twice; the later (CST).
        assert_eq!(chicago.utc(at("2018-11-04 01:30")), at("2018-11-04 07:30"));
        assert_eq!(chicago.utc(at("2018-07-01 12:00")), at("2018-07-01 17:00"));
        assert_eq!(
            chicago.local(at("2018-07-01 17:00")),
            at("2018-07-01 12:00")
        );
        assert_eq!(chicago.abbreviation_at(at("2018-07-01 17:00")), "CDT");
        assert_eq!(offset_text(-(4 * 3600 + 56 * 60 + 2)), "-04:56:02");
        assert_eq!(offset_text(19800), "+05:30");
    }
}
