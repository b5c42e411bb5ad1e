//! Text in the fiche's fonts: French typed on a phone, turned into
//! WinAnsiEncoding bytes (what the base-14 fonts draw) and broken into
//! lines that fit a width.
//!
//! WinAnsiEncoding (Windows-1252) holds every letter French needs, the
//! ligatures œ and Œ, guillemets, curly apostrophes, dashes, the ellipsis
//! and €. A character outside it (another script, an emoji) prints as `?`:
//! the dashboard's page shows the record as typed.

use super::metrics::{HELVETICA, HELVETICA_BOLD};

/// The fiche's two fonts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Font {
    /// Helvetica.
    Regular,
    /// Helvetica-Bold.
    Bold,
}

impl Font {
    /// The width of the font's glyph for a WinAnsi code, in 1/1000 em.
    fn advance(self, code: u8) -> u16 {
        let table = match self {
            Font::Regular => &HELVETICA,
            Font::Bold => &HELVETICA_BOLD,
        };
        usize::from(code)
            .checked_sub(32)
            .and_then(|i| table.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// The width of `text` (WinAnsi bytes) at `size` points.
    pub fn width(self, text: &[u8], size: f32) -> f32 {
        let units: u32 = text.iter().map(|&c| u32::from(self.advance(c))).sum();
        units as f32 * size / 1000.0
    }
}

/// The WinAnsiEncoding code of `c`; spaces of every kind become a plain
/// space, and what the encoding lacks becomes `?`.
fn code(c: char) -> u8 {
    match c {
        ' '..='~' | '\u{a0}'..='\u{ff}' => c as u8,
        '\t' | '\n' | '\r' | '\u{2000}'..='\u{200a}' | '\u{202f}' | '\u{205f}' => b' ',
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8a,
        '‹' => 0x8b,
        'Œ' => 0x8c,
        'Ž' => 0x8e,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' | '‐' | '‑' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9a,
        '›' => 0x9b,
        'œ' => 0x9c,
        'ž' => 0x9e,
        'Ÿ' => 0x9f,
        _ => b'?',
    }
}

/// `text` in WinAnsiEncoding, control characters dropped.
pub(super) fn encode(text: &str) -> Vec<u8> {
    text.chars()
        .filter(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
        .map(code)
        .collect()
}

/// `text` broken into lines no wider than `max` points, at spaces (a word
/// wider than a line is cut), its own line breaks kept; at most `max_lines`
/// lines, the last one ending with `…` when text was left out. Returns
/// WinAnsi bytes per line, and whether everything fit.
pub(super) fn wrap(
    text: &str,
    font: Font,
    size: f32,
    max: f32,
    max_lines: usize,
) -> (Vec<Vec<u8>>, bool) {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for paragraph in text.lines() {
        let mut line: Vec<u8> = Vec::new();
        for word in paragraph.split_whitespace().map(encode) {
            let mut candidate = line.clone();
            if !candidate.is_empty() {
                candidate.push(b' ');
            }
            candidate.extend_from_slice(&word);
            if font.width(&candidate, size) <= max {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // A word wider than the line: cut it wherever it must be.
            for c in word {
                if !line.is_empty() && font.width(&line, size) + font.width(&[c], size) > max {
                    lines.push(std::mem::take(&mut line));
                }
                line.push(c);
            }
        }
        lines.push(line);
    }
    while lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    if lines.len() <= max_lines {
        return (lines, true);
    }
    lines.truncate(max_lines);
    if let Some(last) = lines.last_mut() {
        let ellipsis = code('…');
        while !last.is_empty() && font.width(last, size) + font.width(&[ellipsis], size) > max {
            last.pop();
        }
        last.push(ellipsis);
    }
    (lines, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_is_encoded_in_winansi_and_the_rest_is_marked() {
        assert_eq!(encode("é à ç"), vec![0xe9, b' ', 0xe0, b' ', 0xe7]);
        assert_eq!(
            encode("œuvre’s « € »"),
            b"\x9cuvre\x92s \xab \x80 \xbb".to_vec()
        );
        assert_eq!(encode("12\u{202f}345"), b"12 345".to_vec());
        assert_eq!(encode("a\u{7}b ✓"), b"ab ?".to_vec());
    }

    #[test]
    fn widths_are_helvetica_s() {
        // Adobe's metrics: "A" 667, "é" 556, space 278 (regular); "A" 722 (bold).
        assert_eq!(
            Font::Regular.width(&encode("A é"), 1000.0),
            667.0 + 278.0 + 556.0
        );
        assert_eq!(Font::Bold.width(b"A", 10.0), 7.22);
    }

    #[test]
    fn lines_fit_their_width_and_keep_every_word() {
        let text = "Ascenseur bloqué entre le 3e et le 4e étage depuis lundi, les habitants âgés ne peuvent plus sortir.\nDeuxième paragraphe.";
        let (lines, all) = wrap(text, Font::Regular, 10.0, 150.0, 20);
        assert!(all);
        assert!(lines.len() > 3);
        for l in &lines {
            assert!(Font::Regular.width(l, 10.0) <= 150.0);
        }
        let joined: Vec<u8> = lines.join(&b' ');
        assert_eq!(joined, encode(&text.replace('\n', " ")));
    }

    #[test]
    fn too_long_a_text_ends_with_an_ellipsis_and_a_long_word_is_cut() {
        let (lines, all) = wrap(&"mot ".repeat(200), Font::Regular, 10.0, 100.0, 3);
        assert!(!all);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2].last(), Some(&0x85));
        let (lines, _) = wrap(&"x".repeat(100), Font::Bold, 10.0, 50.0, 10);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| Font::Bold.width(l, 10.0) <= 50.0));
    }
}
