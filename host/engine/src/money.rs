//! Dollar amounts as people read them: enough digits that two different amounts never print
//! the same ("spent $0.0001 over its budget of $0.0001" cannot happen).

/// `$1.23`, `$0.0042`, `$0.000018`: at least four decimals, and at least two significant
/// digits for amounts under a cent, trailing zeros beyond four decimals dropped.
pub fn usd(x: f64) -> String {
    format!("${}", decimals(x, places(x)))
}

/// `spent` and `cap` with as many decimals as it takes to tell them apart (at least four).
pub fn usd_pair(spent: f64, cap: f64) -> (String, String) {
    let mut n = places(spent).max(places(cap));
    while n < 12 && decimals(spent, n) == decimals(cap, n) {
        n += 1;
    }
    (
        format!("${}", decimals(spent, n)),
        format!("${}", decimals(cap, n)),
    )
}

fn places(x: f64) -> usize {
    let x = x.abs();
    if x == 0.0 || x >= 0.01 || !x.is_finite() {
        return 4;
    }
    // Two significant digits: 0.000018 needs 6 places.
    let lead = (-x.log10()).floor() as usize;
    (lead + 2).clamp(4, 12)
}

fn decimals(x: f64, n: usize) -> String {
    let s = format!("{x:.n$}");
    if n <= 4 || !s.contains('.') {
        return s;
    }
    // Beyond four decimals, zeros at the end say nothing.
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let frac = frac.trim_end_matches('0');
    let frac = if frac.len() < 4 {
        format!("{frac:0<4}")
    } else {
        frac.to_owned()
    };
    format!("{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_amounts_keep_two_significant_digits() {
        assert_eq!(usd(1.5), "$1.5000");
        assert_eq!(usd(0.0042), "$0.0042");
        assert_eq!(usd(0.000018), "$0.000018");
        assert_eq!(usd(0.0), "$0.0000");
    }

    #[test]
    fn two_different_amounts_never_print_the_same() {
        let (a, b) = usd_pair(0.00012, 0.0001);
        assert_ne!(a, b);
        assert_eq!((a.as_str(), b.as_str()), ("$0.00012", "$0.0001"));
        let (a, b) = usd_pair(5.000_000_1, 5.0);
        assert_ne!(a, b, "{a} {b}");
        let (a, b) = usd_pair(2.5, 1.0);
        assert_eq!((a.as_str(), b.as_str()), ("$2.5000", "$1.0000"));
    }
}
