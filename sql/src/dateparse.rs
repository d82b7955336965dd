//! Reading dates and times by a template: `to_timestamp(text,
//! template)` and `to_date` (the patterns of `to_char`, in
//! [`crate::datefmt`], read back).

use chrono::{NaiveDate, NaiveDateTime};

use crate::datefmt::MONTHS;
use crate::error::{Result, SqlError};

/// `to_timestamp(text, template)` and `to_date`: `text` read by the
/// template's patterns — `YYYY YY MM DD HH24 HH12 HH MI SS MS US AM PM
/// Mon Month` (any case), `FM`, quoted text — as PostgreSQL reads it: a
/// separator in the template passes over one character of input, spaces
/// before a number are skipped, a number takes as many digits as its
/// field has (a year: all that follow). Missing fields are 1 (date) or 0
/// (time). 22007 for text that does not match, 22008 for a field out of
/// range.
pub fn parse_with_template(text: &str, template: &str) -> Result<NaiveDateTime> {
    let input: Vec<char> = text.chars().collect();
    let chars: Vec<char> = template.chars().collect();
    let (mut at, mut i) = (0usize, 0usize);
    let (mut year, mut month, mut day) = (None::<i64>, None::<i64>, None::<i64>);
    let (mut hour, mut minute, mut second, mut micros) = (0i64, 0i64, 0i64, 0i64);
    let mut pm: Option<bool> = None;
    let mut hour12 = false;
    let out_of_range = || {
        SqlError::datetime_field_overflow(format!("date/time field value out of range: \"{text}\""))
    };
    while i < chars.len() {
        if chars[i] == '"' {
            // Quoted text passes over as many characters.
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                at += 1;
                i += 1;
            }
            i += 1;
            continue;
        }
        let rest: String = chars[i..].iter().collect();
        let body = rest.strip_prefix("FM").unwrap_or(&rest);
        let skipped = rest.len() - body.len();
        let upper = body.to_ascii_uppercase();
        let Some(p) = [
            "HH24", "HH12", "HH", "MI", "SS", "MS", "US", "A.M.", "P.M.", "AM", "PM", "YYYY", "YY",
            "MONTH", "MON", "MM", "DD",
        ]
        .into_iter()
        .find(|p| upper.starts_with(p)) else {
            // A separator (or any other character): passes over one
            // character of input, unless the input has a digit or letter
            // there (PostgreSQL is as lenient).
            if at < input.len() && !input[at].is_alphanumeric() {
                at += 1;
            }
            i += 1;
            continue;
        };
        i += skipped + p.chars().count();
        if matches!(p, "AM" | "PM" | "A.M." | "P.M.") {
            let word: String = input[at.min(input.len())..]
                .iter()
                .take(p.len())
                .collect::<String>()
                .to_ascii_uppercase();
            pm = Some(match word.as_str() {
                "AM" | "A.M." => false,
                "PM" | "P.M." => true,
                _ => {
                    return Err(SqlError::invalid_datetime(format!(
                        "invalid value \"{word}\" for \"{p}\""
                    )));
                }
            });
            at += p.len();
            continue;
        }
        if matches!(p, "MONTH" | "MON") {
            let rest: String = input[at.min(input.len())..].iter().collect();
            let lower = rest.to_ascii_lowercase();
            let found = MONTHS.iter().enumerate().find_map(|(k, name)| {
                let name = name.to_ascii_lowercase();
                let abbrev = &name[..3];
                if p == "MONTH" && lower.starts_with(&name) {
                    Some((k, name.len()))
                } else if lower.starts_with(abbrev) {
                    Some((k, 3))
                } else {
                    None
                }
            });
            let Some((k, len)) = found else {
                return Err(SqlError::invalid_datetime(format!(
                    "invalid value \"{}\" for \"{p}\"",
                    rest.chars().take(9).collect::<String>()
                )));
            };
            month = Some(k as i64 + 1);
            at += len;
            continue;
        }
        // A number: spaces before it skipped, then up to its width.
        while at < input.len() && input[at] == ' ' {
            at += 1;
        }
        // A year takes every digit there is when a separator (or the end)
        // follows it in the template, else four (`YYYYMMDD`).
        let next_is_pattern = chars.get(i).is_some_and(|c| c.is_ascii_alphabetic());
        let width = match p {
            "YYYY" if !next_is_pattern => usize::MAX,
            "YYYY" => 4,
            "MS" => 3,
            "US" => 6,
            _ => 2,
        };
        let negative = p == "YYYY" && input.get(at) == Some(&'-');
        let start = at + usize::from(negative);
        let mut end = start;
        while end < input.len() && end - start < width && input[end].is_ascii_digit() {
            end += 1;
        }
        let digits: String = input[start..end].iter().collect();
        let Ok(n) = digits.parse::<i64>() else {
            return Err(SqlError::invalid_datetime(format!(
                "invalid value \"{}\" for \"{p}\"",
                input[at.min(input.len())..]
                    .iter()
                    .take(width.min(4))
                    .collect::<String>()
            )));
        };
        at = end;
        let n = if negative { -n } else { n };
        match p {
            "YYYY" => year = Some(n),
            // Two digits: the year nearest 2020, as PostgreSQL picks.
            "YY" => year = Some(if n < 70 { 2000 + n } else { 1900 + n }),
            "MM" => month = Some(n),
            "DD" => day = Some(n),
            "HH24" => hour = n,
            "HH12" | "HH" => {
                hour = n;
                hour12 = true;
            }
            "MI" => minute = n,
            "SS" => second = n,
            "MS" => micros = n * 10i64.pow(3 - digits.len() as u32) * 1000,
            _ => micros = n * 10i64.pow(6 - digits.len() as u32),
        }
    }
    if hour12 || pm.is_some() {
        if !(1..=12).contains(&hour) {
            return Err(SqlError::invalid_datetime(format!(
                "hour \"{hour}\" is invalid for the 12-hour clock"
            )));
        }
        hour = hour % 12 + if pm == Some(true) { 12 } else { 0 };
    }
    let (y, m, d) = (year.unwrap_or(1), month.unwrap_or(1), day.unwrap_or(1));
    let date = i32::try_from(y)
        .ok()
        .zip(u32::try_from(m).ok().zip(u32::try_from(d).ok()))
        .and_then(|(y, (m, d))| NaiveDate::from_ymd_opt(y, m, d))
        .ok_or_else(out_of_range)?;
    let time = u32::try_from(hour)
        .ok()
        .zip(u32::try_from(minute).ok())
        .zip(u32::try_from(second).ok().zip(u32::try_from(micros).ok()))
        .and_then(|((h, mi), (s, us))| chrono::NaiveTime::from_hms_micro_opt(h, mi, s, us))
        .ok_or_else(out_of_range)?;
    Ok(date.and_time(time))
}
