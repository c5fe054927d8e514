#include <hearth/fhir/narrative_check.hpp>

#include <string>
#include <string_view>

#include <doctest/doctest.h>

using namespace hearth::fhir;
using status = narrative_verdict::status;

namespace {

/// `body` inside the narrative div, as FHIR JSON holds it.
std::string div(std::string_view body) {
  return std::string(R"(<div xmlns="http://www.w3.org/1999/xhtml">)") + std::string(body) + "</div>";
}

}  // namespace

TEST_CASE("narrative check: the usual narratives are allowed and have content") {
  for (std::string_view ok : {
           R"(<div xmlns="http://www.w3.org/1999/xhtml">Peter James <b>Chalmers</b></div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"><p>a</p><table class="grid"><thead><tr><th colspan="2">x</th></tr></thead><tbody><tr><td style="color: red">1</td><td>2</td></tr></tbody></table></div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml"><a href="http://example.org/x?a=1&amp;b=2" name="n">link</a> <img src="data:image/png;base64,AAAA" alt="x"/></div>)",
           R"(<div xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en"><ul><li>one</li></ul><!-- a comment --><pre>&lt;tag&gt; &#x2014; &#160;</pre></div>)",
           "  <div xmlns=\"http://www.w3.org/1999/xhtml\">\n  <p><![CDATA[a < b]]></p>\n</div>\n  ",
       }) {
    CAPTURE(ok);
    const narrative_verdict v = check_narrative(ok);
    CHECK(v.result == status::allowed);
    CHECK(v.allowed());
    CHECK(v.well_formed());
    CHECK(v.has_content);
    CHECK(v.problem.empty());
  }
}

TEST_CASE("narrative check: scripts, forms, frames and styles are refused") {
  for (std::string_view element : {"script", "style", "form", "input", "iframe", "object", "embed", "applet", "head",
                                   "body", "link", "meta", "base", "frame", "u", "font"}) {
    CAPTURE(element);
    const narrative_verdict v = check_narrative(div("<" + std::string(element) + ">x</" + std::string(element) + ">"));
    CHECK(v.result == status::not_allowed);
    CHECK(v.problem == "element '" + std::string(element) + "' is not allowed in a narrative");
    CHECK(v.has_content);  // still well-formed: txt-2 holds on its own
  }
}

TEST_CASE("narrative check: event attributes and attributes of other elements are refused") {
  auto v = check_narrative(div(R"~(<p onclick="steal()">x</p>)~"));
  CHECK(v.result == status::not_allowed);
  CHECK(v.problem == "attribute 'onclick' is not allowed on 'p'");
  v = check_narrative(div(R"~(<img src="x.png" onerror="steal()"/>)~"));
  CHECK(v.result == status::not_allowed);
  CHECK(v.problem == "attribute 'onerror' is not allowed on 'img'");
  // href belongs to a and area only; xlink:href to none.
  v = check_narrative(div(R"(<span href="http://example.org">x</span>)"));
  CHECK(v.problem == "attribute 'href' is not allowed on 'span'");
  v = check_narrative(div(R"(<a xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="http://example.org">x</a>)"));
  CHECK(v.problem == "attribute 'xlink:href' is not allowed on 'a'");
  // Only the first problem is reported.
  v = check_narrative(div(R"~(<p onclick="a()" onmouseover="b()">x</p><script/>)~"));
  CHECK(v.problem == "attribute 'onclick' is not allowed on 'p'");
}

TEST_CASE("narrative check: script URLs are refused however they are written") {
  for (std::string_view bad : {
           R"~(<a href="javascript:alert(1)">x</a>)~",
           R"~(<a href="JavaScript:alert(1)">x</a>)~",
           R"~(<a href="  javascript:alert(1)">x</a>)~",
           R"~(<a href="java&#x9;script:alert(1)">x</a>)~",
           R"~(<a href="java&#10;script:alert(1)">x</a>)~",
           R"~(<a href="&#106;avascript:alert(1)">x</a>)~",
           R"~(<a href="javascript&#58;alert(1)">x</a>)~",
           R"~(<a href="vbscript:msgbox(1)">x</a>)~",
           R"~(<area href="javascript:alert(1)" alt="x"/>)~",
           R"~(<img src="javascript:alert(1)" alt="x"/>)~",
           R"~(<q cite="javascript:alert(1)">x</q>)~",
       }) {
    CAPTURE(bad);
    const narrative_verdict v = check_narrative(div(bad));
    CHECK(v.result == status::not_allowed);
    CHECK(v.problem.find("holds a script URL (javascript: or vbscript:)") != std::string::npos);
  }
  // A word that only looks like one, and script text outside URLs, are fine.
  CHECK(check_narrative(div(R"(<a href="http://example.org/javascript:x">x</a>)")).allowed());
  CHECK(check_narrative(div(R"(<a href="javascripts.html">x</a>)")).allowed());
  CHECK(check_narrative(div(R"(<a href="javascript">x</a>)")).allowed());  // relative: no scheme
  CHECK(check_narrative(div(R"(<span title="javascript: a language">javascript:alert(1)</span>)")).allowed());
}

TEST_CASE("narrative check: one div in the XHTML namespace") {
  auto v = check_narrative(R"(<div>no namespace</div>)");
  CHECK(v.result == status::not_allowed);
  CHECK(v.problem == "the div must declare xmlns=\"http://www.w3.org/1999/xhtml\"");
  v = check_narrative(R"(<div xmlns="http://www.w3.org/1999/html">x</div>)");
  CHECK(v.result == status::not_allowed);
  CHECK(v.problem == "element 'div' is not in the XHTML namespace (http://www.w3.org/1999/xhtml)");
  v = check_narrative(div(R"(<p xmlns="http://example.org/other">x</p>)"));
  CHECK(v.problem == "element 'p' is not in the XHTML namespace (http://www.w3.org/1999/xhtml)");
  v = check_narrative(div(R"(<h:p xmlns:h="http://www.w3.org/1999/xhtml">x</h:p>)"));
  CHECK(v.problem == "element 'h:p' is not allowed: a narrative uses unprefixed XHTML names");

  v = check_narrative(R"(<p xmlns="http://www.w3.org/1999/xhtml">not a div</p>)");
  CHECK(v.result == status::not_allowed);
  CHECK(v.problem == "the narrative must be a div element, not 'p'");
  CHECK(v.has_content);
  v = check_narrative(div("a") + div("b"));
  CHECK(v.result == status::not_allowed);
  CHECK(v.problem == "the narrative must be a single div element");
  v = check_narrative("text " + div("a"));
  CHECK(v.result == status::not_allowed);
  CHECK(v.problem == "nothing but whitespace may surround the div");
  v = check_narrative("<!-- c -->" + div("a"));
  CHECK(v.problem == "nothing but whitespace may surround the div");
  v = check_narrative(div("a") + "<?xml-stylesheet href=\"http://example.org/s.css\"?>");
  CHECK(v.result == status::not_allowed);
  CHECK(v.problem == "processing instructions are not allowed in a narrative");
  v = check_narrative("plain text");
  CHECK(v.result == status::not_allowed);
  CHECK(v.problem == "the narrative must be a single div element");
}

TEST_CASE("narrative check: malformed XML is not well-formed, with the byte where it broke") {
  auto v = check_narrative(R"(<div xmlns="http://www.w3.org/1999/xhtml"><p>x</div>)");
  CHECK(v.result == status::not_well_formed);
  CHECK_FALSE(v.well_formed());
  CHECK(v.problem.starts_with("the narrative is not well-formed XML ("));
  CHECK(v.problem.find("at byte ") != std::string::npos);
  CHECK(check_narrative(R"(<div xmlns="http://www.w3.org/1999/xhtml"><p>x</p>)").result == status::not_well_formed);
  CHECK(check_narrative(R"(<div xmlns="http://www.w3.org/1999/xhtml">)").result == status::not_well_formed);
  CHECK(check_narrative("").result == status::not_allowed);  // nothing at all: no div
  v = check_narrative(div(R"(<p class="a" class="b">x</p>)"));
  CHECK(v.result == status::not_well_formed);
  CHECK(v.problem == "an attribute appears twice on 'p' (XML 1.0 section 3.1)");
  v = check_narrative(div(R"(<p title="a<b">x</p>)"));
  CHECK(v.result == status::not_well_formed);
  CHECK(v.problem == "'<' is not allowed in an attribute value (XML 1.0 section 3.1)");
  v = check_narrative(div("a & b"));
  CHECK(v.result == status::not_well_formed);
  v = check_narrative(div(std::string("bell \x07")));
  CHECK(v.result == status::not_well_formed);
  CHECK(v.problem == "the narrative holds a control character XML does not allow (XML 1.0 section 2.2)");
  v = check_narrative(div(std::string("bad \xC3\x28 utf-8")));
  CHECK(v.problem == "the narrative is not valid UTF-8");
  CHECK(check_narrative(div("&#0;")).result == status::not_well_formed);
  CHECK(check_narrative(div("&#xD800;")).result == status::not_well_formed);
}

TEST_CASE("narrative check: no DTD, no entity but the predefined ones") {
  // An entity expansion attack never gets to a parser that would expand it.
  const std::string billion_laughs =
      "<!DOCTYPE div [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>" +
      div("&lol2;");
  auto v = check_narrative(billion_laughs);
  CHECK(v.result == status::not_well_formed);
  CHECK(v.problem == "DOCTYPE and ENTITY declarations are not allowed (R4 xml.html)");
  v = check_narrative("<!doctype html>" + div("x"));
  CHECK(v.result == status::not_well_formed);
  v = check_narrative(div("<!-- <!ENTITY x \"y\"> -->x"));
  CHECK(v.result == status::not_well_formed);
  // An external entity, and HTML's named entities (no DTD declares them).
  for (std::string_view ref : {"&xxe;", "&nbsp;", "&colon;", "&amp", "&#xZZ;", "&#;"}) {
    CAPTURE(ref);
    v = check_narrative(div(ref));
    CHECK(v.result == status::not_well_formed);
    CHECK(v.problem ==
          "only the predefined entities (amp, lt, gt, quot, apos) and character references may be used");
  }
  v = check_narrative(div(R"(<a href="&colon;x">x</a>)"));
  CHECK(v.result == status::not_well_formed);
  v = check_narrative(R"(<?xml version="1.0"?>)" + div("x"));
  CHECK(v.result == status::not_well_formed);
  CHECK(v.problem == "XML and DOCTYPE declarations are not allowed in a narrative");
  CHECK(check_narrative(div("&amp;&lt;&gt;&quot;&apos;&#65;&#x42;")).allowed());
}

TEST_CASE("narrative check: txt-2, content is text other than whitespace or an image") {
  auto v = check_narrative(div("  \n\t "));
  CHECK(v.result == status::allowed);  // txt-1 holds: only txt-2 fails
  CHECK_FALSE(v.has_content);
  CHECK_FALSE(check_narrative(div("<p> </p><pre>\n</pre><br/><!-- comment -->")).has_content);
  CHECK_FALSE(check_narrative(div("&#32;&#x9;&#10;&#13;")).has_content);
  CHECK_FALSE(check_narrative(div("<![CDATA[  ]]>")).has_content);
  CHECK_FALSE(check_narrative(R"(<div xmlns="http://www.w3.org/1999/xhtml"/>)").has_content);
  CHECK(check_narrative(div("<p>.</p>")).has_content);
  CHECK(check_narrative(div("&#160;")).has_content);  // a no-break space is not whitespace in XML
  CHECK(check_narrative(div("&amp;")).has_content);
  CHECK(check_narrative(div(R"(<img src="x.png" alt=""/>)")).has_content);
  // Content still counts where txt-1 fails; an element alone is none.
  CHECK(check_narrative(div("<script>x</script>")).has_content);
  CHECK_FALSE(check_narrative(div("<script/>")).has_content);
}

TEST_CASE("narrative check: hostile input stays within limits (depth, size)") {
  // Deep nesting: no recursion anywhere, refused past the depth limit.
  std::string deep;
  const std::size_t levels = 100'000;
  for (std::size_t i = 0; i < levels; ++i) deep += "<span>";
  for (std::size_t i = 0; i < levels; ++i) deep += "</span>";
  auto v = check_narrative(div(deep));
  CHECK(v.result == status::too_costly);
  CHECK(v.problem == "elements nest deeper than 256 levels, the most that is checked");

  // Exactly at the limit: the div and 255 levels inside it.
  std::string at_limit;
  for (std::size_t i = 1; i < max_narrative_depth; ++i) at_limit += "<span>";
  at_limit += "x";
  for (std::size_t i = 1; i < max_narrative_depth; ++i) at_limit += "</span>";
  CHECK(check_narrative(div(at_limit)).allowed());
  CHECK(check_narrative(div("<span>" + at_limit + "</span>")).result == status::too_costly);

  // Deep and unclosed: not well-formed, found without recursion either.
  std::string unclosed;
  for (std::size_t i = 0; i < levels; ++i) unclosed += "<b>";
  CHECK(check_narrative(div(unclosed)).result == status::not_well_formed);

  // Larger than the limit: not parsed.
  std::string big(max_narrative_bytes + 1, 'x');
  v = check_narrative(big);
  CHECK(v.result == status::too_costly);
  CHECK(v.problem == "the narrative is larger than 16 MiB, the most that is checked");
  CHECK(check_narrative_content(big).result == status::too_costly);

  // Long names are cut in messages.
  const std::string name(1000, 'x');
  v = check_narrative(div("<" + name + "/>"));
  CHECK(v.problem == "element '" + name.substr(0, 64) + "...' is not allowed in a narrative");
}

TEST_CASE("narrative check: text as the content of a div (htmlChecks() on a string)") {
  CHECK(check_narrative_content("plain text").allowed());
  CHECK(check_narrative_content("<b>bold</b> and <i>italic</i>").allowed());
  auto v = check_narrative_content("<script>alert(1)</script>");
  CHECK(v.result == status::not_allowed);
  CHECK(v.problem == "element 'script' is not allowed in a narrative");
  // Closing the div early does not escape it: two elements, then refused.
  CHECK(check_narrative_content("</div><script>x</script><div>").result == status::not_allowed);
  v = check_narrative_content("<p>x</i>");
  CHECK(v.result == status::not_well_formed);
  CHECK(v.problem.find("at byte ") != std::string::npos);
  CHECK_FALSE(check_narrative_content("   ").has_content);
}
