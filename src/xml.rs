//! Small XML helpers shared by the notification and vCloud API parsers: [`parse_document`]
//! reads a whole (small) document into a tree of [`Element`]s named by their *local* name,
//! and [`escape_text`] prepares text for request bodies.
//!
//! Prefixes and namespaces are dropped on purpose: vCD's documents use `vmext:`, `vcloud:`, a
//! default namespace or none, and the schema pages disagree with the wire about namespace URIs.

use quick_xml::XmlVersion;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

/// Deeper nesting than this is refused. vCD documents nest a handful of levels; the limit keeps
/// a hostile document from building (and recursively dropping) a degenerate tree.
pub const MAX_DEPTH: usize = 32;

/// More attributes on one element than this are refused. vCD's elements carry about a dozen;
/// the cap bounds the work one start tag can cause.
pub const MAX_ATTRIBUTES: usize = 64;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// Document type declarations are how entity-expansion attacks start; vCD never sends one.
    #[error("DOCTYPE declarations are not accepted")]
    Doctype,
    #[error("elements nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("an element has more than {MAX_ATTRIBUTES} attributes")]
    TooManyAttributes,
    #[error("element <{0}> appears more than once")]
    Duplicate(String),
    #[error("{0}")]
    Syntax(String),
}

/// One element: its local name, attributes, own text and child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name, without prefix.
    pub name: String,
    attributes: Vec<Attribute>,
    /// Text directly inside this element (not its children's), entities resolved.
    text: String,
    pub children: Vec<Element>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Attribute {
    local_name: String,
    prefixed: bool,
    value: String,
}

impl Element {
    /// The attribute with this local name. When a name appears both with and without a prefix
    /// (`type` next to `xsi:type`), the unprefixed one is the element's own and wins.
    pub fn attr(&self, local_name: &str) -> Option<&str> {
        let mut matching = self
            .attributes
            .iter()
            .filter(|a| a.local_name == local_name);
        let first = matching.next()?;
        let own = std::iter::once(first)
            .chain(matching)
            .find(|a| !a.prefixed)
            .unwrap_or(first);
        Some(&own.value)
    }

    /// The element's own text, trimmed.
    pub fn text(&self) -> &str {
        self.text.trim()
    }

    /// Child elements with this local name, in document order.
    pub fn children_named<'a>(&'a self, local_name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == local_name)
    }

    /// The child with this local name, if any; two of them are an error rather than a guess.
    pub fn single_child(&self, local_name: &str) -> Result<Option<&Element>, XmlError> {
        let mut matching = self.children.iter().filter(|c| c.name == local_name);
        match (matching.next(), matching.next()) {
            (first, None) => Ok(first),
            (Some(_), Some(_)) | (None, Some(_)) => Err(XmlError::Duplicate(local_name.to_owned())),
        }
    }

    fn open(start: &BytesStart<'_>, reader: &Reader<&[u8]>) -> Result<Element, XmlError> {
        let mut attributes = Vec::new();
        for (count, attribute) in start.attributes().enumerate() {
            if count == MAX_ATTRIBUTES {
                return Err(XmlError::TooManyAttributes);
            }
            let attribute = attribute.map_err(|e| syntax(reader, e))?;
            if attribute.key.as_namespace_binding().is_some() {
                continue;
            }
            let value = attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| syntax(reader, e))?;
            attributes.push(Attribute {
                local_name: attribute.key.local_name().as_ref().to_owned(),
                prefixed: attribute.key.prefix().is_some(),
                value: value.into_owned(),
            });
        }
        Ok(Element {
            name: start.local_name().as_ref().to_owned(),
            attributes,
            ..Element::default()
        })
    }
}

/// Drops a UTF-8 byte-order mark and leading whitespace, which some producers put before the
/// XML declaration (where XML itself forbids it).
pub fn trim_preamble(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text).trim_start()
}

/// Parses a complete document and returns its root element. Refuses DOCTYPEs, unknown entities,
/// mismatched or missing end tags, a second root and text outside the root.
pub fn parse_document(text: &str) -> Result<Element, XmlError> {
    let mut tree = TreeSink::default();
    read(text, &mut tree)?;
    tree.root
        .ok_or_else(|| XmlError::Syntax("no root element".to_owned()))
}

/// Reads a document element by element without building a tree, for documents that can be
/// large (vCD's list of every active task): `visit(depth, element)` sees each element's name
/// and attributes as it starts (no text, no children); the root has depth 0. The same checks
/// as [`parse_document`] apply.
pub fn scan_document(
    text: &str,
    visit: impl FnMut(usize, &Element) -> Result<(), XmlError>,
) -> Result<(), XmlError> {
    read(text, &mut ScanSink { depth: 0, visit })
}

/// Where [`read`] hands a document's structure.
trait Sink {
    /// An element starts; its text and children follow until [`Sink::close`].
    fn open(&mut self, element: Element) -> Result<(), XmlError>;
    /// The innermost open element ends.
    fn close(&mut self);
    /// Text directly inside the innermost open element.
    fn text(&mut self, text: &str);
}

/// The one event loop, with every check: DOCTYPE, entities, depth, attributes, end tags, a
/// single root, no text outside it.
fn read(text: &str, sink: &mut impl Sink) -> Result<(), XmlError> {
    let mut reader = Reader::from_str(trim_preamble(text));
    // Names of the open elements, for "document ends inside <x>"; at most MAX_DEPTH of them.
    let mut open: Vec<String> = Vec::new();
    let mut seen_root = false;
    loop {
        let event = reader.read_event().map_err(|e| syntax(&reader, e))?;
        match event {
            Event::Start(start) | Event::Empty(start) if open.is_empty() && seen_root => {
                let name = start.local_name().as_ref().to_owned();
                return Err(XmlError::Syntax(format!("second root element <{name}>")));
            }
            Event::Start(_) if open.len() >= MAX_DEPTH => return Err(XmlError::TooDeep),
            Event::Start(start) => {
                let element = Element::open(&start, &reader)?;
                open.push(element.name.clone());
                seen_root = true;
                sink.open(element)?;
            }
            Event::Empty(start) => {
                seen_root = true;
                sink.open(Element::open(&start, &reader)?)?;
                sink.close();
            }
            Event::End(_) => match open.pop() {
                Some(_) => sink.close(),
                None => return Err(XmlError::Syntax("unmatched end tag".to_owned())),
            },
            Event::Text(text) => {
                let text = text.xml10_content();
                append_text(sink, open.is_empty(), &text)?;
            }
            Event::CData(data) => {
                let text = data.xml10_content();
                append_text(sink, open.is_empty(), &text)?;
            }
            Event::GeneralRef(reference) => {
                append_text(sink, open.is_empty(), &resolve(&reference)?)?
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    match open.last() {
        Some(unclosed) => Err(XmlError::Syntax(format!(
            "document ends inside <{unclosed}>"
        ))),
        None if !seen_root => Err(XmlError::Syntax("no root element".to_owned())),
        None => Ok(()),
    }
}

fn append_text(sink: &mut impl Sink, outside_root: bool, text: &str) -> Result<(), XmlError> {
    match outside_root {
        false => sink.text(text),
        true if text.trim().is_empty() => {}
        true => return Err(XmlError::Syntax("text outside the root element".to_owned())),
    }
    Ok(())
}

/// Builds the tree [`parse_document`] returns.
#[derive(Default)]
struct TreeSink {
    open: Vec<Element>,
    root: Option<Element>,
}

impl Sink for TreeSink {
    fn open(&mut self, element: Element) -> Result<(), XmlError> {
        self.open.push(element);
        Ok(())
    }

    fn close(&mut self) {
        let Some(element) = self.open.pop() else {
            return;
        };
        match self.open.last_mut() {
            Some(parent) => parent.children.push(element),
            None => self.root = Some(element),
        }
    }

    fn text(&mut self, text: &str) {
        if let Some(element) = self.open.last_mut() {
            element.text.push_str(text);
        }
    }
}

/// Hands each element to a visitor and forgets it: memory stays proportional to the depth.
struct ScanSink<F> {
    depth: usize,
    visit: F,
}

impl<F: FnMut(usize, &Element) -> Result<(), XmlError>> Sink for ScanSink<F> {
    fn open(&mut self, element: Element) -> Result<(), XmlError> {
        (self.visit)(self.depth, &element)?;
        self.depth += 1;
        Ok(())
    }

    fn close(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn text(&mut self, _text: &str) {}
}

/// Character references and the five predefined entities; there is no DTD to define others.
fn resolve(reference: &BytesRef<'_>) -> Result<String, XmlError> {
    let invalid = |e: &dyn std::fmt::Display| XmlError::Syntax(format!("bad reference: {e}"));
    if let Some(ch) = reference.resolve_char_ref().map_err(|e| invalid(&e))? {
        return Ok(ch.to_string());
    }
    let text = match reference.as_ref() {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        other => return Err(XmlError::Syntax(format!("unknown entity &{other};"))),
    };
    Ok(text.to_owned())
}

fn syntax(reader: &Reader<&[u8]>, error: impl std::fmt::Display) -> XmlError {
    XmlError::Syntax(format!("{error} (near byte {})", reader.error_position()))
}

/// Escapes text for element content or attribute values (`&`, `<`, `>`, both quotes) and
/// replaces characters XML 1.0 cannot carry at all with U+FFFD, so a stray control character
/// in a message cannot make vCD reject the request. Tabs and line ends become character
/// references: a parser turns them into spaces in attribute values and `\r` into `\n` in
/// text, but keeps what a reference names.
pub fn escape_text(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' => escaped.push_str("&#9;"),
            '\n' => escaped.push_str("&#10;"),
            '\r' => escaped.push_str("&#13;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => escaped.push('\u{fffd}'),
            _ => escaped.push(ch),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_by_local_name_whatever_the_prefix() {
        let documents = [
            r#"<ns0:Root xmlns:ns0="urn:x" ns0:kind="a"><ns0:Child name="c">text</ns0:Child></ns0:Root>"#,
            r#"<Root xmlns="urn:y" kind="a"><Child name="c">text</Child></Root>"#,
            r#"<Root kind="a"><Child name="c">text</Child></Root>"#,
            "\u{feff}\n  <?xml version=\"1.0\"?>\n<a:Root xmlns:a=\"urn:z\" kind=\"a\"><b:Child xmlns:b=\"urn:w\" name=\"c\"> text </b:Child></a:Root>",
        ];
        for document in documents {
            let root = parse_document(document).unwrap();
            assert_eq!(root.name, "Root", "{document}");
            assert_eq!(root.attr("kind"), Some("a"), "{document}");
            let child = root.single_child("Child").unwrap().unwrap();
            assert_eq!(
                (child.attr("name"), child.text()),
                (Some("c"), "text"),
                "{document}"
            );
        }
    }

    #[test]
    fn namespace_declarations_are_not_attributes_and_own_attributes_win() {
        let root = parse_document(
            r#"<Root xmlns:type="urn:t" xsi:type="prefixed" type="own" xmlns:xsi="urn:xsi"/>"#,
        )
        .unwrap();
        assert_eq!(root.attr("type"), Some("own"));
        let root = parse_document(r#"<Root xmlns:id="urn:evil"/>"#).unwrap();
        assert_eq!(root.attr("id"), None);
    }

    #[test]
    fn resolves_predefined_entities_character_references_and_cdata() {
        let root = parse_document(
            r#"<R a="&lt;&amp;&quot;&#65;">x &lt;&gt;&amp;&apos;&quot;&#x42;<![CDATA[<&]]></R>"#,
        )
        .unwrap();
        assert_eq!(root.attr("a"), Some("<&\"A"));
        assert_eq!(root.text(), "x <>&'\"B<&");
    }

    #[test]
    fn refuses_hostile_and_broken_documents() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        let crowded = format!(
            "<R{}/>",
            (0..=MAX_ATTRIBUTES)
                .map(|i| format!(" a{i}=\"\""))
                .collect::<String>()
        );
        let cases: [(&str, &str); 13] = [
            ("", "no root"),
            ("   \n", "no root"),
            (
                "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">]><R>&lol;</R>",
                "DOCTYPE",
            ),
            ("<R>&lol;</R>", "unknown entity"),
            ("<R><C></R>", "C"),
            ("<R><C/>", "ends inside <R>"),
            ("<R a=\"1\" a=\"2\"/>", "uplicate"),
            ("<R/><S/>", "second root"),
            ("text<R/>", "outside"),
            ("<R/>tail", "outside"),
            ("<R a=\"x/>", "near byte"),
            (&deep, "deeper"),
            (&crowded, "more than 64 attributes"),
        ];
        for (document, expected) in cases {
            let error = parse_document(document).unwrap_err().to_string();
            assert!(error.contains(expected), "{document:?}: {error}");
        }
    }

    #[test]
    fn single_child_refuses_to_guess_between_two() {
        let root = parse_document("<R><C>1</C><C>2</C></R>").unwrap();
        assert_eq!(
            root.single_child("C"),
            Err(XmlError::Duplicate("C".to_owned()))
        );
        assert_eq!(root.single_child("D"), Ok(None));
        assert_eq!(root.children_named("C").count(), 2);
    }

    #[test]
    fn escape_text_round_trips_through_the_parser() {
        let hostile = "a<b>&c \"d\" 'e'\u{1}\tf</Message><Evil/>";
        let escaped = escape_text(hostile);
        assert!(
            !escaped.contains('<') && !escaped.contains('"'),
            "{escaped}"
        );
        let root = parse_document(&format!("<M a=\"{escaped}\">{escaped}</M>")).unwrap();
        let expected = "a<b>&c \"d\" 'e'\u{fffd}\tf</Message><Evil/>";
        assert_eq!((root.text(), root.attr("a")), (expected, Some(expected)));
        assert!(root.children.is_empty());
    }

    #[test]
    fn scanning_refuses_what_parsing_refuses_and_sees_every_element() {
        let refused = [
            "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">]><R>&lol;</R>",
            "<R/><S/>",
            "<R><A></R>",
            "<R>",
            "text<R/>",
            "<R>&unknown;</R>",
            "",
        ];
        for text in refused {
            assert!(parse_document(text).is_err(), "parse accepted {text:?}");
            assert!(
                scan_document(text, |_, _| Ok(())).is_err(),
                "scan accepted {text:?}"
            );
        }
        let mut seen = Vec::new();
        scan_document(
            "<a:R x=\"1\"><B y=\"2\"><C/></B><B/></a:R>",
            |depth, element| {
                seen.push((
                    depth,
                    element.name.clone(),
                    element.attr("y").map(str::to_owned),
                ));
                Ok(())
            },
        )
        .unwrap();
        let expected = [
            (0, "R", None),
            (1, "B", Some("2")),
            (2, "C", None),
            (1, "B", None),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(d, n, y)| (*d, n.to_string(), y.map(str::to_owned)))
            .collect();
        assert_eq!(seen, expected);
    }
}

/// Rewrites a fixture the ways other vCD versions, proxies and hand-written tests spell the
/// same document, for table tests of every parser built on this module.
#[cfg(test)]
pub(crate) mod testing {
    use regex::{Captures, Regex};

    /// `prefixes` are the fixture's element prefixes, the root's first; none when the fixture
    /// puts its elements in a default namespace.
    pub(crate) fn variants(document: &str, prefixes: &[&str]) -> Vec<(&'static str, String)> {
        let retag = |text: &str, from: &str, to: &str| {
            text.replace(&format!("<{from}:"), &format!("<{to}"))
                .replace(&format!("</{from}:"), &format!("</{to}"))
        };
        let mut renamed = document.to_owned();
        let mut unprefixed = document.to_owned();
        for (i, prefix) in prefixes.iter().enumerate() {
            renamed = retag(&renamed, prefix, &format!("ns{i}:"))
                .replace(&format!("xmlns:{prefix}="), &format!("xmlns:ns{i}="));
            unprefixed = retag(&unprefixed, prefix, "");
        }
        let default_namespace = match prefixes.first() {
            Some(root) if !document.contains(" xmlns=\"") => {
                unprefixed.replacen(&format!("xmlns:{root}="), "xmlns=", 1)
            }
            _ => unprefixed.clone(),
        };
        if prefixes.is_empty() {
            let tag = Regex::new(r"<(/?)(\w+)([\s/>])").unwrap();
            renamed = tag
                .replace_all(document, "<${1}ns0:$2$3")
                .replace(" xmlns=\"", " xmlns:ns0=\"");
        }
        let declarations = Regex::new(r#"\s+xmlns(:\w+)?="[^"]*""#).unwrap();
        let no_namespace = declarations.replace_all(&unprefixed, "").into_owned();
        vec![
            ("as given", document.to_owned()),
            ("ns0/ns1 prefixes", renamed),
            ("default namespace", default_namespace),
            ("no namespace", no_namespace),
            ("attributes reversed", reverse_attributes(document)),
            (
                "BOM and blank lines first",
                format!("\u{feff}\n\n  \n{document}"),
            ),
        ]
    }

    fn reverse_attributes(document: &str) -> String {
        let tag = Regex::new(r#"<([\w:]+)((?:\s+[\w:]+="[^"]*")*)\s*(/?)>"#).unwrap();
        let attribute = Regex::new(r#"[\w:]+="[^"]*""#).unwrap();
        tag.replace_all(document, |caps: &Captures<'_>| {
            let mut attributes: Vec<&str> =
                attribute.find_iter(&caps[2]).map(|m| m.as_str()).collect();
            attributes.reverse();
            let attributes: String = attributes.iter().map(|a| format!(" {a}")).collect();
            format!("<{}{attributes}{}>", &caps[1], &caps[3])
        })
        .into_owned()
    }

    #[test]
    fn variants_differ_from_the_original_but_parse() {
        let original = r#"<a:R xmlns:a="urn:a" x="1" y="2"><a:C/></a:R>"#;
        let all = variants(original, &["a"]);
        assert_eq!(
            all[1].1,
            r#"<ns0:R xmlns:ns0="urn:a" x="1" y="2"><ns0:C/></ns0:R>"#
        );
        assert_eq!(all[2].1, r#"<R xmlns="urn:a" x="1" y="2"><C/></R>"#);
        assert_eq!(all[3].1, r#"<R x="1" y="2"><C/></R>"#);
        assert_eq!(all[4].1, r#"<a:R y="2" x="1" xmlns:a="urn:a"><a:C/></a:R>"#);
        for (name, document) in all {
            assert!(super::parse_document(&document).is_ok(), "{name}");
        }
        let default = variants(r#"<R xmlns="urn:a" x="1"><C/></R>"#, &[]);
        assert_eq!(
            default[1].1,
            r#"<ns0:R xmlns:ns0="urn:a" x="1"><ns0:C/></ns0:R>"#
        );
        assert_eq!(default[3].1, r#"<R x="1"><C/></R>"#);
    }
}
