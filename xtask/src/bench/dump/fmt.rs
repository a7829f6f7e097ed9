//! Number formatting shared by the stdout table and the markdown report.

/// `v` with 3 significant digits (v >= 1).
fn sig3(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A duration in ns, in the unit that keeps 3 significant digits.
pub fn dur(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{} s", sig3(ns / 1e9))
    } else if ns >= 1e6 {
        format!("{} ms", sig3(ns / 1e6))
    } else if ns >= 1e3 {
        format!("{} µs", sig3(ns / 1e3))
    } else {
        format!("{ns:.0} ns")
    }
}

pub fn opt_dur(ns: Option<f64>) -> String {
    ns.map_or_else(|| "-".into(), dur)
}

/// `12.3x`, or `-` when unknown.
pub fn times(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 100.0 => format!("{r:.0}x"),
        Some(r) if r >= 10.0 => format!("{r:.1}x"),
        Some(r) => format!("{r:.2}x"),
        None => "-".into(),
    }
}

pub fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "-".into(), |n| n.to_string())
}

pub fn bytes(n: Option<u64>) -> String {
    match n {
        None => "-".into(),
        Some(b) if b >= 10 * 1024 * 1024 => format!("{} MiB", b / (1024 * 1024)),
        Some(b) if b >= 10 * 1024 => format!("{} KiB", b / 1024),
        Some(b) => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(dur(512.0), "512 ns");
        assert_eq!(dur(1_500.0), "1.50 µs");
        assert_eq!(dur(43_774_834.0), "43.8 ms");
        assert_eq!(dur(2_000_000.0), "2.00 ms");
        assert_eq!(dur(551_786_000.0), "552 ms");
        assert_eq!(dur(3_210_000_000.0), "3.21 s");
        assert_eq!(times(Some(6.1)), "6.10x");
        assert_eq!(times(Some(25.04)), "25.0x");
        assert_eq!(times(None), "-");
        assert_eq!(bytes(Some(962_110)), "939 KiB");
        assert_eq!(bytes(Some(100)), "100 B");
    }
}
