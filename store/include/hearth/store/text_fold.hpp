#pragma once
// Folding text for string search: FHIR R4 search.html#string — "a field
// matches a string query if the value of the field equals or starts with the
// supplied parameter value, after both have been normalized by case and
// accent". The index stores fold_for_search(value); the query side folds the
// search value with the same function and compares with starts-with (default),
// substring (:contains) or equality. Token :text uses it too.
//
// What is folded (the limits are deliberate and stated here once):
// - ASCII A-Z to a-z.
// - Latin-1 Supplement (U+00C0-U+00FF) and Latin Extended-A (U+0100-U+017F):
//   each letter to its base letter(s) in lower case, accents dropped
//   ("Müller" -> "muller", "Łódź" -> "lodz", "Ærø" -> "aero"); ß -> "ss",
//   Æ/æ -> "ae", Œ/œ -> "oe", Ĳ/ĳ -> "ij", Þ/þ -> "th", Ð/ð/Đ/đ -> "d",
//   ı/İ -> "i", ĸ -> "k", ŉ -> "n", ŋ -> "n", ſ -> "s". × and ÷ stay.
// - Combining diacritical marks (U+0300-U+036F) are removed, so decomposed
//   input ("u" + U+0308) folds like precomposed input ("ü").
// - Greek (U+0391-U+03A9) and Cyrillic (U+0400-U+042F) capitals to lower case
//   (case only: Greek tonos and Cyrillic letters such as ё are kept).
// Not folded: Latin Extended-B and Latin Extended Additional (Vietnamese
// letters with two diacritics), other scripts' case, compatibility forms
// (ligatures other than those above, full-width letters), and whitespace or
// punctuation (kept as they are). Invalid UTF-8 bytes are copied unchanged.
//
// Pure; thread-safe.

#include <string>
#include <string_view>

namespace hearth::store {

/// `text` folded for case- and accent-insensitive comparison (see above).
/// The result is UTF-8 whenever `text` is; it is never longer than twice `text`.
std::string fold_for_search(std::string_view text);

}  // namespace hearth::store
