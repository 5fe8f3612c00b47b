//! Formatting of durations for titles, explanations and reports (points in time are written
//! by [`tocsin_event::time`]).

/// A short human duration: `45 s`, `3 min`, `2 h 5 min`, `3 d 4 h`.
pub fn format_duration(micros: i64) -> String {
    let seconds = micros / 1_000_000;
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3_600 => format!("{} min", s / 60),
        s if s < 86_400 => match (s / 3_600, s % 3_600 / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        },
        s => match (s / 86_400, s % 86_400 / 3_600) {
            (d, 0) => format!("{d} d"),
            (d, h) => format!("{d} d {h} h"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(0), "0 s");
        assert_eq!(format_duration(59_999_999), "59 s");
        assert_eq!(format_duration(180_000_000), "3 min");
        assert_eq!(format_duration(3_600_000_000), "1 h");
        assert_eq!(format_duration(7_500_000_000), "2 h 5 min");
        assert_eq!(format_duration(90_000_000_000), "1 d 1 h");
    }
}
