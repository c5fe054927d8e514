#include <hearth/store/text_fold.hpp>

#include <doctest/doctest.h>

using hearth::store::fold_for_search;

TEST_CASE("index: fold_for_search folds ASCII case and Latin accents") {
  CHECK(fold_for_search("Müller") == "muller");
  CHECK(fold_for_search("MÜLLER") == fold_for_search("muller"));
  CHECK(fold_for_search("José Ñúñez") == "jose nunez");
  CHECK(fold_for_search("ÀÁÂÃÄÅ àáâãäå ÇçÈÉÊËÌÍÎÏ") == "aaaaaa aaaaaa cceeeeiiii");
  CHECK(fold_for_search("ÒÓÔÕÖØ ÙÚÛÜ Ýÿ") == "oooooo uuuu yy");
}

TEST_CASE("index: fold_for_search expands letters that are not one base letter") {
  CHECK(fold_for_search("Straße") == "strasse");
  CHECK(fold_for_search("Ærø") == "aero");
  CHECK(fold_for_search("Œuvre") == "oeuvre");
  CHECK(fold_for_search("Þór Ðaði") == "thor dadi");
  CHECK(fold_for_search("Ĳssel") == "ijssel");
}

TEST_CASE("index: fold_for_search covers Latin Extended-A") {
  CHECK(fold_for_search("Łódź") == "lodz");
  CHECK(fold_for_search("Dvořák") == "dvorak");
  CHECK(fold_for_search("Şişli Ğ İ ı") == "sisli g i i");
  CHECK(fold_for_search("Čapek Đoković Ő ű") == "capek dokovic o u");
  CHECK(fold_for_search("Żółć ſ") == "zolc s");
  CHECK(fold_for_search("Ŵŷ Ÿ ŉ Ŋ ĸ") == "wy y n n k");
}

TEST_CASE("index: fold_for_search drops combining marks (decomposed input)") {
  CHECK(fold_for_search("Mu\xCC\x88ller") == "muller");  // u + U+0308
  CHECK(fold_for_search("e\xCC\x81") == "e");            // e + U+0301
}

TEST_CASE("index: fold_for_search lowers Greek and Cyrillic capitals, keeps the rest") {
  CHECK(fold_for_search("ΑΒΓ Ω") == "αβγ ω");
  CHECK(fold_for_search("ЖУК Ёлка") == "жук ёлка");
  CHECK(fold_for_search("3 × 4 ÷ 2") == "3 × 4 ÷ 2");  // signs, not letters
  CHECK(fold_for_search("東京") == "東京");
  CHECK(fold_for_search("  Van  der-Berg ") == "  van  der-berg ");  // spacing and punctuation kept
  CHECK(fold_for_search("") == "");
}

TEST_CASE("index: fold_for_search copies invalid UTF-8 unchanged") {
  CHECK(fold_for_search("A\xFF" "B") == "a\xFF" "b");
  CHECK(fold_for_search("\xC3") == "\xC3");          // truncated sequence
  CHECK(fold_for_search("\xC0\x80") == "\xC0\x80");  // overlong
}
