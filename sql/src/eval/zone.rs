//! `AT TIME ZONE` and `timezone(zone, ts)`: a zone by name
//! ([`crate::zone::Zone::named`]: UTC's names, PostgreSQL's fixed
//! abbreviations, the IANA database's zones with their daylight-saving
//! rules, POSIX offsets) or an interval (hours east).

use spanlite_truetime::Timestamp;

use crate::error::{Result, SqlError};
use crate::plan::Func;
use crate::value::Value;
use crate::zone::Zone;

/// `timezone(zone, ts)` when the arguments suit it.
pub(super) fn function(f: Func, values: &[Value]) -> Result<Option<Value>> {
    let (Func::Timezone, [zone, ts]) = (f, values) else {
        return Ok(None);
    };
    let zone = match zone {
        Value::Text(name) => Zone::named(name)?,
        Value::Interval(iv) => {
            if iv.months != 0 || iv.days != 0 {
                return Err(SqlError::invalid_parameter(format!(
                    "interval time zone \"{zone}\" must not include months or days"
                )));
            }
            let east = i32::try_from(iv.micros / 1_000_000).map_err(|_| {
                SqlError::invalid_parameter(format!("interval time zone \"{zone}\" out of range"))
            })?;
            Zone::Fixed(east)
        }
        _ => return Ok(None),
    };
    let naive = |t: &Timestamp| t.to_datetime().naive_utc();
    let of = crate::datetime::timestamp_of_local;
    Ok(Some(match ts {
        // The instant's wall-clock time there.
        Value::TimestampTz(t) => Value::Timestamp(of(zone.local(naive(t)))?),
        // The instant that wall-clock time is there.
        Value::Timestamp(t) => Value::TimestampTz(of(zone.utc(naive(t)))?),
        // A date is midnight in the session's zone, as a timestamptz.
        Value::Date(_) => match ts.clone().cast_to(crate::value::DataType::TimestampTz)? {
            Value::TimestampTz(t) => Value::Timestamp(of(zone.local(naive(&t)))?),
            _ => return Ok(None),
        },
        _ => return Ok(None),
    }))
}
