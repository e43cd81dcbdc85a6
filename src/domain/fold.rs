//! Folding text for search: case, Vietnamese diacritics and the Bahnar breve letters.
//!
//! "nguyen" must find "Nguyễn", "dak po kong" must find "Đăk Pờ Kơng", and "hoa" must find
//! both spellings of "hoà"/"hòa". Folding decomposes to NFD, drops every combining mark
//! (tones, circumflex, horn, breve), maps đ/Đ to d (it has no decomposition), and lowercases.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Folds `text` to the form search compares: lowercase ASCII letters where Vietnamese or
/// Bahnar letters stood, single spaces between words.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for c in text.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        let c = match c {
            'đ' | 'Đ' => 'd',
            c if c.is_whitespace() => ' ',
            c => c,
        };
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
            continue;
        }
        last_space = false;
        out.extend(c.to_lowercase());
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Splits a search query into folded words; every word must appear in a match.
pub fn query_terms(query: &str) -> Vec<String> {
    fold(query).split(' ').filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_removes_vietnamese_tones_and_marks() {
        assert_eq!(fold("Nguyễn Thị Ánh"), "nguyen thi anh");
        assert_eq!(fold("Đăk Pờ Kơng"), "dak po kong");
        assert_eq!(fold("hoà"), fold("hòa"));
        assert_eq!(fold("  Làng   Kon\tBraih "), "lang kon braih");
    }

    #[test]
    fn folding_handles_bahnar_breve_letters() {
        // Bahnar writes short vowels with a breve: ĕ, ĭ, ŏ, ŭ beside Vietnamese ă.
        assert_eq!(fold("Pơlĕi Kŏn Tŭm Ĭ"), "polei kon tum i");
    }

    #[test]
    fn a_query_splits_into_folded_words() {
        assert_eq!(query_terms("  Đăk  PỜ "), vec!["dak", "po"]);
        assert!(query_terms("   ").is_empty());
    }
}
