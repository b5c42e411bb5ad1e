//! A resident's name out of the team's free text (RGPD art. 17): notes,
//! reports and activities stay in the team's log when a contact is erased,
//! and a mediator may have written the resident's name in them.
//!
//! Names are compared folded (case and accents aside: "Éloïse Dupré" is
//! found in "eloise DUPRE") and as whole words, so that "Rey" is not found
//! in "Reynaud". Only the matched words change; the rest of the text stays
//! byte for byte, and the change goes through the text diff so that edits
//! made concurrently on other devices survive.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// What a name is replaced with.
pub const PLACEHOLDER: &str = "[nom effacé]";

/// The shortest word of a name looked for on its own: shorter ones ("Li",
/// "de") would erase ordinary words.
const MIN_WORD_CHARS: usize = 3;

/// `s` lowercased, its accents and other combining marks dropped.
pub fn fold(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

fn fold_char(c: char) -> String {
    c.to_lowercase()
        .collect::<String>()
        .nfd()
        .filter(|m| !is_combining_mark(*m))
        .collect()
}

/// A run of the original text and what it folds to.
struct Segment {
    orig: std::ops::Range<usize>,
    folded: std::ops::Range<usize>,
}

/// The folded text and, for each original character (with the combining
/// marks that follow it), where it lies in both texts.
fn segments(text: &str) -> (String, Vec<Segment>) {
    let mut folded = String::with_capacity(text.len());
    let mut segs: Vec<Segment> = Vec::new();
    for (i, c) in text.char_indices() {
        let piece = fold_char(c);
        let end = i + c.len_utf8();
        match segs.last_mut() {
            // A lone combining mark belongs to the character before it.
            Some(last) if piece.is_empty() => last.orig.end = end,
            _ => {
                let start = folded.len();
                folded.push_str(&piece);
                segs.push(Segment {
                    orig: i..end,
                    folded: start..folded.len(),
                });
            }
        }
    }
    (folded, segs)
}

/// The folded forms looked for: the whole name (its words joined by one
/// space), then each of its words of at least three letters.
fn patterns(name: &str) -> Vec<String> {
    let words: Vec<String> = name.split_whitespace().map(fold).collect();
    let mut out = vec![words.join(" ")];
    for w in words {
        if w.chars().filter(|c| c.is_alphanumeric()).count() >= MIN_WORD_CHARS && !out.contains(&w)
        {
            out.push(w);
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// The original byte ranges where the name occurs as whole words, in order
/// and without overlaps (the longest match wins where two start together).
fn matches(text: &str, name: &str) -> Vec<std::ops::Range<usize>> {
    let (folded, segs) = segments(text);
    let starts: Vec<usize> = segs.iter().map(|s| s.folded.start).collect();
    let ends: Vec<usize> = segs.iter().map(|s| s.folded.end).collect();
    let word_char = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut found: Vec<(usize, usize)> = Vec::new();
    for p in patterns(name) {
        for (at, _) in folded.match_indices(p.as_str()) {
            let end = at + p.len();
            let (Ok(si), Ok(ei)) = (starts.binary_search(&at), ends.binary_search(&end)) else {
                continue;
            };
            if word_char(folded[..at].chars().next_back())
                || word_char(folded[end..].chars().next())
            {
                continue;
            }
            found.push((si, ei));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    let mut next_free = 0;
    for (si, ei) in found {
        if si < next_free {
            continue;
        }
        out.push(segs[si].orig.start..segs[ei].orig.end);
        next_free = ei + 1;
    }
    out
}

/// Whether `text` mentions `name` (folded, whole words).
pub fn mentions(text: &str, name: &str) -> bool {
    !matches(text, name).is_empty()
}

/// `text` with every mention of `name` replaced by [`PLACEHOLDER`]; None
/// when it has none.
pub fn redact(text: &str, name: &str) -> Option<String> {
    let found = matches(text, name);
    if found.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for r in found {
        out.push_str(&text[from..r.start]);
        out.push_str(PLACEHOLDER);
        from = r.end;
    }
    out.push_str(&text[from..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_and_accents() {
        assert_eq!(fold("Éloïse DUPRÉ"), "eloise dupre");
        // A decomposed accent folds like a composed one.
        assert_eq!(fold("E\u{301}loi\u{308}se"), "eloise");
    }

    #[test]
    fn full_name_and_words_replaced_rest_kept_byte_for_byte() {
        let t = "Vu eloise DUPRE est passée; Dupré revient. Éloïse aussi.";
        assert_eq!(
            redact(t, "Éloïse Dupré").unwrap(),
            "Vu [nom effacé] est passée; [nom effacé] revient. [nom effacé] aussi."
        );
        let t = "E\u{301}loi\u{308}se a appelé";
        assert_eq!(redact(t, "Éloïse Dupré").unwrap(), "[nom effacé] a appelé");
    }

    #[test]
    fn whole_words_only_and_short_words_alone_are_kept() {
        assert!(!mentions("M. Reynaud est venu", "Rey"));
        assert!(mentions("M. Rey est venu", "Rey"));
        // "Li" alone is too short to look for; the full name is found.
        assert_eq!(
            redact("Li et Li Na", "Li Na").unwrap(),
            "Li et [nom effacé]"
        );
        assert_eq!(redact("Rien à voir", "Éloïse Dupré"), None);
    }
}
