//! The overall mode of an install from the modes of its settings: one rule and one wording for
//! the files ([`crate::checkout::settings`]) and for what a render or a live cluster gives
//! ([`crate::checkout::model::decode`]), so `status` says the same thing of both.

use crate::checkout::catalogue::Mode;

/// Every counted setting on, every one off, or some disagreeing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overall {
    On,
    Off,
    /// The settings (by name) whose mode is not the first counted setting's (MULTIUSER's).
    Mixed(Vec<String>),
}

impl Overall {
    /// The mode of `settings` (each: its mode, `None` for a customised value, and its name),
    /// in catalogue order: the first is MULTIUSER, the switch the others must agree with.
    pub fn of(settings: &[(Option<Mode>, String)]) -> Overall {
        let all = |m: Mode| settings.iter().all(|(mode, _)| *mode == Some(m));
        if all(Mode::On) {
            return Overall::On;
        }
        if all(Mode::Off) {
            return Overall::Off;
        }
        let first = settings.first().map(|(mode, _)| *mode);
        Overall::Mixed(
            settings
                .iter()
                .filter(|(mode, _)| Some(*mode) != first)
                .map(|(_, name)| name.clone())
                .collect(),
        )
    }

    pub fn word(&self) -> &'static str {
        match self {
            Overall::On => "on",
            Overall::Off => "off",
            Overall::Mixed(_) => "mixed",
        }
    }

    /// The line `status` prints, without advice (the caller adds what fits its subject).
    pub fn line(&self) -> String {
        match self {
            Overall::On => "on (multi-user: every managed setting at its multi-user value)".into(),
            Overall::Off => {
                "off (single-user: every managed setting at its single-user value)".into()
            }
            Overall::Mixed(odd) => format!("mixed: {} disagree with MULTIUSER", odd.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(modes: &[(Option<Mode>, &str)]) -> Vec<(Option<Mode>, String)> {
        modes.iter().map(|(m, n)| (*m, n.to_string())).collect()
    }

    #[test]
    fn agreeing_settings_give_their_mode() {
        let on = Overall::of(&named(&[
            (Some(Mode::On), "MULTIUSER"),
            (Some(Mode::On), "A"),
        ]));
        assert_eq!(on.word(), "on");
        assert_eq!(
            on.line(),
            "on (multi-user: every managed setting at its multi-user value)"
        );
        let off = Overall::of(&named(&[(Some(Mode::Off), "MULTIUSER")]));
        assert_eq!(
            off.line(),
            "off (single-user: every managed setting at its single-user value)"
        );
    }

    #[test]
    fn mixed_names_the_settings_that_disagree_with_multiuser() {
        let mixed = Overall::of(&named(&[
            (Some(Mode::Off), "MULTIUSER"),
            (Some(Mode::On), "A"),
            (None, "B"),
            (Some(Mode::Off), "C"),
        ]));
        assert_eq!(mixed, Overall::Mixed(vec!["A".into(), "B".into()]));
        assert_eq!(mixed.word(), "mixed");
        assert_eq!(mixed.line(), "mixed: A, B disagree with MULTIUSER");
    }
}
