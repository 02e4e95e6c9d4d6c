//! Untrusted text (keys, version ids, reasons) shown to people: characters
//! that would change how a line reads — control characters (which move the
//! cursor or recolour a terminal) and Unicode format characters (bidi
//! overrides such as U+202E, zero-width characters, which can make a key
//! disguise its own line) — are shown as `\u{..}`.
//!
//! The format characters are Unicode's general category Cf, listed here
//! (Unicode 16): a table of 24 ranges is all the agent needs of the Unicode
//! database, so no crate is pulled in for it.

/// Unicode general category Cf (format characters), as ranges.
const FORMAT: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

/// Whether `c` is shown escaped: a control or a format character.
pub fn hidden(c: char) -> bool {
    let u = c as u32;
    c.is_control() || FORMAT.iter().any(|&(lo, hi)| (lo..=hi).contains(&u))
}

/// `s` with every [`hidden`] character as `\u{..}`.
pub fn shown(s: &str) -> String {
    if !s.chars().any(hidden) {
        return s.to_owned();
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if hidden(c) {
            o.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            o.push(c);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_overrides_zero_width_and_control_characters_are_shown() {
        // "invoice\u{202e}fdp.exe" reads as "invoiceexe.pdf" on screen.
        assert_eq!(shown("invoice\u{202e}fdp.exe"), "invoice\\u{202e}fdp.exe");
        assert_eq!(
            shown("a\u{200b}b\u{2066}c\u{feff}"),
            "a\\u{200b}b\\u{2066}c\\u{feff}"
        );
        assert_eq!(shown("a\u{1b}[31mb\n"), "a\\u{1b}[31mb\\u{a}");
        assert_eq!(shown("café/日本/ok"), "café/日本/ok");
        assert!(!hidden('é') && hidden('\u{e0041}') && hidden('\u{61c}'));
    }
}

/// `n` and the noun, plural unless `n` is 1: "1 delete marker", "2 delete markers".
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod count_tests {
    #[test]
    fn one_is_singular() {
        assert_eq!(super::count(1, "delete marker"), "1 delete marker");
        assert_eq!(super::count(0, "delete marker"), "0 delete markers");
        assert_eq!(super::count(2, "candidate"), "2 candidates");
    }
}
