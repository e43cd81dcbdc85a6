//! Folding text for search: case, Vietnamese diacritics and the Bahnar breve letters.
//!
//! "nguyen" must find "Nguyễn", "dak po kong" must find "Đăk Pờ Kơng", and "hoa" must find
//! both spellings of "hoà"/"hòa". Folding decomposes to NFD, drops every combining mark
//! (tones, circumflex, horn, breve), maps đ/Đ to d and the Bahnar ƀ/Ƀ to b (neither has a
//! decomposition: "blup" finds "Ƀlúp"), and lowercases.

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
            'ƀ' | 'Ƀ' => 'b',
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

/// Whether a query word (folded) matches a folded text the way search matches records: it
/// is a whole word of the text or the beginning of one ("ngu" finds "nguyen", "hoa" finds
/// "hoa" and "hoat", "guyen" finds nothing).
pub fn has_word(folded: &str, term: &str) -> bool {
    folded.split(' ').any(|w| w.starts_with(term))
}

/// Letters a query word needs before a search may pass over records by [`term_bit`]: a
/// shorter word begins words whose first three letters differ ("ng" begins "nguyen").
pub const SKETCH_LETTERS: usize = 3;

/// A 64-bit sketch of the words of a folded text, so that a search can pass over records
/// that cannot match without comparing their text: each word sets one bit, chosen by its
/// first three letters (the whole word when shorter). A query word matches a record only
/// where it begins one of its words, so for a query word of at least three letters that
/// word's first three letters are the query word's; a record whose sketch lacks such a
/// query word's [`term_bit`] cannot match. The bits are stored, so the hash never changes.
pub fn word_sketch(folded: &str) -> i64 {
    folded.split(' ').filter(|w| !w.is_empty()).fold(0, |sketch, w| sketch | term_bit(w))
}

/// The bit of [`word_sketch`] a query word (or a word of a record) stands for.
pub fn term_bit(word: &str) -> i64 {
    let end = word.char_indices().nth(3).map_or(word.len(), |(i, _)| i);
    // FNV-1a, 64 bits: small, stable across versions and platforms.
    let hash =
        word[..end].bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    (1u64 << (hash % 64)) as i64
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
    fn the_bahnar_letter_b_with_a_stroke_folds_to_b() {
        assert_eq!(fold("Ƀlúp ƀok"), "blup bok");
        assert!(has_word(&fold("Nhà ông A Ƀlúp"), "blup"));
    }

    #[test]
    fn a_query_splits_into_folded_words() {
        assert_eq!(query_terms("  Đăk  PỜ "), vec!["dak", "po"]);
        assert!(query_terms("   ").is_empty());
    }

    #[test]
    fn query_words_match_whole_words_and_word_starts_whatever_their_length() {
        let text = fold("Thôn Đăk Pờ Kơng Hoạt Nguyễn");
        assert!(has_word(&text, "dak") && has_word(&text, "kong") && has_word(&text, "thon"));
        assert!(has_word(&text, "ngu") && has_word(&text, "ng") && has_word(&text, "nguyen"));
        assert!(has_word(&text, "hoa"), "hoa begins hoat");
        assert!(has_word(&text, "hoat") && !has_word(&text, "oat") && !has_word(&text, "guyen"));
        assert!(!has_word("", "a"));
    }

    #[test]
    fn a_record_that_can_match_a_query_word_has_its_bit() {
        let text = fold(" Thôn Plei Rơng Nguyễn Thị Hoà h'nga Hộ gia đình ");
        let sketch = word_sketch(&text);
        // Whole words and word starts of three letters or more, as search uses the sketch.
        for term in ["plei", "ple", "rong", "nguyen", "nguy", "thi", "hoa", "h'nga", "gia", "dinh", "din"] {
            assert_eq!(sketch & term_bit(term), term_bit(term), "{term}");
        }
        // The bit depends on the first three letters only, and on nothing else.
        assert_eq!(term_bit("nguyen"), term_bit("nguxxx"));
        assert_eq!(word_sketch(""), 0);
        // A record without a word starting "zzz" is passed over for "zzzz" (unless another
        // word shares the bit: the sketch only ever lets through too much, never too little).
        assert!(word_sketch("zzzz") != 0 && sketch.count_ones() < 16);
    }
}
