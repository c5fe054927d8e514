#include <hearth/hl7v2/element.hpp>

#include <doctest/doctest.h>

#include <hearth/hl7v2/parser.hpp>

using namespace hearth::hl7v2;

TEST_CASE("element: repetitions, components and subcomponents") {
  auto m = parse("MSH|^~\\&|A\rPID|1||111^^^HOSP&1.2.3&ISO^MR~222^^^SSA^SS||Doe^John\r");
  REQUIRE(m);
  const element_view f = m->find("PID")->field(3);
  CHECK(f.depth() == level::field);
  CHECK(f.size() == 2);
  const element_view r2 = f.repetition(2);
  CHECK(r2.depth() == level::repetition);
  CHECK(r2.raw() == "222^^^SSA^SS");
  CHECK(r2.component(5).text() == "SS");
  const element_view hd = f.component(4);  // of the first repetition
  CHECK(hd.depth() == level::component);
  CHECK(hd.size() == 3);
  CHECK(hd.subcomponent(2).text() == "1.2.3");
  CHECK(hd.part(3).text() == "ISO");       // part() on a component: subcomponents
  CHECK(f.part(1).text() == "111");        // part() on a field: components of rep 1
  CHECK(f.subcomponent(1).text() == "111");
  CHECK(hd.subcomponent(9).empty());
  CHECK(f.repetition(3).empty());
  CHECK(f.repetition(3).size() == 0);
  // A subcomponent is its own first part; it has nothing below it.
  const element_view sub = hd.subcomponent(1);
  CHECK(sub.depth() == level::subcomponent);
  CHECK(sub.part(1).raw() == "HOSP");
  CHECK(sub.part(2).empty());
  // A simple value read as a composite: its first component is the whole value.
  CHECK(m->find("PID")->field(1).part(1).text() == "1");
}

TEST_CASE("element: explicit null and empty values") {
  auto m = parse("MSH|^~\\&|A\rPID|1|\"\"||^^\r");
  REQUIRE(m);
  CHECK(m->find("PID")->field(2).is_null());
  CHECK(m->find("PID")->field(3).empty());
  CHECK(m->find("PID")->field(4).size() == 1);
  CHECK(m->find("PID")->field(4).at(1).size() == 3);
}

TEST_CASE("element: MSH-1 and MSH-2 are literal, never split or unescaped") {
  auto m = parse("MSH|^~\\&|A\r");
  REQUIRE(m);
  const element_view msh2 = m->header().field(2);
  CHECK(msh2.literal());
  CHECK(msh2.size() == 1);
  CHECK(msh2.text() == "^~\\&");
  CHECK(m->header().field(1).text() == "|");
}

TEST_CASE("element: views stay valid after the message is moved or copied") {
  element_view v;
  {
    auto m = parse("MSH|^~\\&|A\rPID|1||abc\r");
    REQUIRE(m);
    hearth::hl7v2::message moved = std::move(m).value();
    v = moved.find("PID")->field(3);
    const hearth::hl7v2::message copy = moved;
    CHECK(copy.find("PID")->field(3).raw().data() == v.raw().data());  // shared bytes
    CHECK(v.text() == "abc");
  }
}

TEST_CASE("element: children() visits what at() gives, in one pass") {
  auto m = parse("MSH|^~\\&|A\rPID|1||a^b&c^~d~~e^^f&&\r");
  REQUIRE(m);
  const element_view f = m->find("PID")->field(3);
  std::size_t reps = 0;
  for (const element_view rep : f.children()) {
    ++reps;
    CHECK(rep.raw() == f.at(reps).raw());
    CHECK(rep.depth() == level::repetition);
    std::size_t comps = 0;
    for (const element_view comp : rep.children()) {
      ++comps;
      CHECK(comp.raw() == rep.at(comps).raw());
      std::size_t subs = 0;
      for (const element_view sub : comp.children()) {
        ++subs;
        CHECK(sub.raw() == comp.at(subs).raw());
        CHECK(sub.depth() == level::subcomponent);
      }
      CHECK(subs == std::max<std::size_t>(1, comp.size()));
    }
    CHECK(comps == std::max<std::size_t>(1, rep.size()));
  }
  CHECK(reps == 4);
  // An empty element has one empty child; a literal one is not split.
  std::size_t n = 0;
  for (const element_view c : m->find("PID")->field(2).children()) n += c.empty() ? 1 : 100;
  CHECK(n == 1);
  n = 0;
  for (const element_view c : m->header().field(2).children()) n += c.raw() == "^~\\&" ? 1 : 100;
  CHECK(n == 1);
}
