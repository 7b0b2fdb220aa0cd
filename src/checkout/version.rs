//! KFP release versions (`appVersion` of `pipeline-install-config`), ordered as semver orders them,
//! so that "below 2.0.0-beta.0" means what the KFP release notes mean.

use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    text: String,
    numbers: [u64; 3],
    /// Dot-separated pre-release identifiers (`alpha.7`); empty for a release.
    pre: Vec<String>,
}

impl Version {
    /// Reads `2.0.0-alpha.7`, `1.8.2`, `v2.16.0`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Version> {
        let trimmed = text.trim().trim_start_matches('v');
        let (core, pre) = match trimmed.split_once('-') {
            Some((core, pre)) => (core, pre.split('.').map(str::to_string).collect()),
            None => (trimmed, Vec::new()),
        };
        let mut numbers = [0u64; 3];
        let mut parts = core.split('.');
        for n in &mut numbers {
            *n = parts.next()?.parse().ok()?;
        }
        if parts.next().is_some() {
            return None;
        }
        Some(Version {
            text: text.trim().to_string(),
            numbers,
            pre,
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers.cmp(&other.numbers).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_pre(&self.pre, &other.pre),
            }
        })
    }
}

fn compare_pre(a: &[String], b: &[String]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let order = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn orders_like_semver() {
        let beta = v("2.0.0-beta.0");
        for below in ["1.8.2", "2.0.0-alpha.7", "2.0.0-alpha.10"] {
            assert!(v(below) < beta, "{below}");
        }
        for above in ["2.0.0-beta.1", "2.0.0-rc.1", "2.0.0", "2.0.5", "2.16.0"] {
            assert!(v(above) > beta, "{above}");
        }
        assert!(v("2.0.0-alpha.10") > v("2.0.0-alpha.7"));
    }

    #[test]
    fn rejects_non_versions() {
        for s in ["", "2", "2.0", "x.y.z", "1.2.3.4"] {
            assert!(Version::parse(s).is_none(), "{s}");
        }
        assert_eq!(v("v2.16.0").to_string(), "v2.16.0");
    }
}
