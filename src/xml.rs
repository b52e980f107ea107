//! The XML edge shared by the notification and vCloud API parsers. [`check`] reads a document
//! once with quick-xml's pull reader and refuses what no vCD document contains (a DOCTYPE,
//! unknown entities, deep nesting, crowds of attributes, a second root); the [`Checked`]
//! document it returns is then deserialized into a wire type by quick-xml's serde support.
//! [`scan`] is the same pass showing each start [`Tag`] as it goes, for documents too large to
//! deserialize whole. [`escape_text`] prepares text for request bodies.
//!
//! Everything matches by *local* name, on purpose: vCD's documents use `vmext:`, `vcloud:`, a
//! default namespace or none, and the schema pages disagree with the wire about namespace URIs.
//! quick-xml's deserializer does the same (`@type` is the attribute `type` under any prefix).

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::de::DeError;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;
use serde::de::DeserializeOwned;

/// Deeper nesting than this is refused. vCD documents nest a handful of levels; the limit keeps
/// a hostile document from sending the deserializer down a degenerate path.
pub(crate) const MAX_DEPTH: usize = 32;

/// More attributes on one element than this are refused. vCD's elements carry about a dozen;
/// the cap bounds the work one start tag can cause.
pub(crate) const MAX_ATTRIBUTES: usize = 64;

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

/// A document that passed [`check`] or [`scan`], ready to be deserialized.
#[derive(Debug)]
pub(crate) struct Checked<'a> {
    /// The document without its preamble (see [`trim_preamble`]).
    text: &'a str,
    /// The root element's local name.
    root: String,
    /// Whether some element carries a prefixed attribute that another of its attributes
    /// shadows (see [`Tag::attr`]).
    shadowed: bool,
}

impl Checked<'_> {
    /// The root element's local name, which the deserializer does not look at.
    pub(crate) fn root(&self) -> &str {
        &self.root
    }

    /// Deserializes the document into a wire type whose fields name child elements and
    /// `@`attributes by local name. A child that appears twice where the type has room for one
    /// is [`XmlError::Duplicate`], not a guess; a `Vec` field collects its children wherever
    /// they stand among their siblings. Of attributes that share a local name the deserializer
    /// sees only the element's own one, as [`Tag::attr`] chooses it.
    pub(crate) fn deserialize<T: DeserializeOwned>(&self) -> Result<T, XmlError> {
        let result = match self.shadowed {
            false => quick_xml::de::from_str(self.text),
            true => quick_xml::de::from_str(&without_shadowed_attributes(self.text)?),
        };
        result.map_err(from_de)
    }
}

/// Checks a complete document: refuses DOCTYPEs, unknown entities, nesting deeper than
/// [`MAX_DEPTH`], more than [`MAX_ATTRIBUTES`] on an element, mismatched or missing end tags,
/// a second root and text outside the root.
pub(crate) fn check(text: &str) -> Result<Checked<'_>, XmlError> {
    scan(text, |_, _| Ok(()))
}

/// Checks a document as [`check`] does while showing `visit(depth, tag)` each start tag as it
/// is read (the root has depth 0). Nothing is kept: memory stays proportional to the depth,
/// however long the document.
pub(crate) fn scan<'a>(
    text: &'a str,
    mut visit: impl FnMut(usize, &Tag<'_>) -> Result<(), XmlError>,
) -> Result<Checked<'a>, XmlError> {
    let text = trim_preamble(text);
    let mut reader = Reader::from_str(text);
    // Names of the open elements, for "document ends inside <x>"; at most MAX_DEPTH of them.
    let mut open: Vec<String> = Vec::new();
    let mut root: Option<String> = None;
    let mut shadowed = false;
    loop {
        let event = reader.read_event().map_err(|e| syntax(&reader, e))?;
        let opens = matches!(event, Event::Start(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                if open.is_empty() && root.is_some() {
                    let name = start.local_name().as_ref().to_owned();
                    return Err(XmlError::Syntax(format!("second root element <{name}>")));
                }
                if opens && open.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let tag = Tag::read(start, &reader)?;
                visit(open.len(), &tag)?;
                shadowed |= tag.shadowed;
                root.get_or_insert_with(|| tag.name().to_owned());
                if opens {
                    open.push(tag.name().to_owned());
                }
            }
            Event::End(_) => {
                if open.pop().is_none() {
                    return Err(XmlError::Syntax("unmatched end tag".to_owned()));
                }
            }
            Event::Text(text) => outside_root(open.is_empty(), &text)?,
            Event::CData(data) => outside_root(open.is_empty(), &data)?,
            Event::GeneralRef(reference) => {
                check_reference(&reference)?;
                outside_root(open.is_empty(), &reference)?;
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(unclosed) = open.last() {
        return Err(XmlError::Syntax(format!(
            "document ends inside <{unclosed}>"
        )));
    }
    let root = root.ok_or_else(|| XmlError::Syntax("no root element".to_owned()))?;
    Ok(Checked {
        text,
        root,
        shadowed,
    })
}

/// A start tag as [`scan`] shows it. Its attributes have been checked: at most
/// [`MAX_ATTRIBUTES`], well-formed, no two alike, no unknown entities.
pub(crate) struct Tag<'a> {
    start: BytesStart<'a>,
    /// A prefixed attribute shares its local name with another attribute of this tag.
    shadowed: bool,
}

impl<'a> Tag<'a> {
    fn read(start: BytesStart<'a>, reader: &Reader<&[u8]>) -> Result<Tag<'a>, XmlError> {
        let mut prefixed = false;
        for (count, attribute) in start.attributes().enumerate() {
            if count == MAX_ATTRIBUTES {
                return Err(XmlError::TooManyAttributes);
            }
            let attribute = attribute.map_err(|e| syntax(reader, e))?;
            // Refuses unknown entities in every attribute, whether or not anyone reads it.
            if attribute.value.contains('&') {
                value(&attribute).map_err(|e| syntax(reader, e))?;
            }
            prefixed |= is_prefixed(&attribute);
        }
        // Only a prefixed attribute can be shadowed; most tags have none.
        let shadowed = prefixed && shadowing(&start).iter().any(|(_, shadowed)| *shadowed);
        Ok(Tag { start, shadowed })
    }

    /// The element's local name.
    pub(crate) fn name(&self) -> &str {
        self.start.local_name().into_inner()
    }

    /// The attribute with this local name, entities resolved and blanks normalized as XML
    /// requires. When the name appears both with and without a prefix (`type` next to
    /// `xsi:type`) the unprefixed one is the element's own and wins; otherwise the first does.
    /// Namespace declarations (`xmlns:id`) are not attributes.
    pub(crate) fn attr(&self, local_name: &str) -> Result<Option<Cow<'_, str>>, XmlError> {
        let mut first_prefixed = None;
        for attribute in self.start.attributes().flatten() {
            if attribute.key.as_namespace_binding().is_some()
                || attribute.key.local_name().as_ref() != local_name
            {
                continue;
            }
            if !is_prefixed(&attribute) {
                return value(&attribute).map(Some);
            }
            first_prefixed.get_or_insert(attribute);
        }
        first_prefixed.as_ref().map(value).transpose()
    }
}

/// The value as the deserializer sees it: entities resolved, blanks normalized.
fn value<'a>(attribute: &Attribute<'a>) -> Result<Cow<'a, str>, XmlError> {
    attribute
        .normalized_value(XmlVersion::Implicit1_0)
        .map_err(|e| XmlError::Syntax(e.to_string()))
}

fn is_prefixed(attribute: &Attribute<'_>) -> bool {
    attribute.key.prefix().is_some() && attribute.key.as_namespace_binding().is_none()
}

/// The document with the attributes [`Tag::attr`] passes over left out, so that the
/// deserializer, which knows attributes by local name alone, sees one per name. Only documents
/// with colliding prefixed attributes (`xsi:type` next to `type`) come here; everything but
/// the tags that carry them is copied as it is.
fn without_shadowed_attributes(text: &str) -> Result<String, XmlError> {
    let mut reader = Reader::from_str(text);
    let mut rewritten = String::with_capacity(text.len());
    let mut copied = 0;
    loop {
        let before = position(&reader);
        let (start, close) = match reader.read_event().map_err(|e| syntax(&reader, e))? {
            Event::Start(start) => (start, ">"),
            Event::Empty(start) => (start, "/>"),
            Event::Eof => break,
            _ => continue,
        };
        let attributes = shadowing(&start);
        if !attributes.iter().any(|(_, shadowed)| *shadowed) {
            continue;
        }
        rewritten.push_str(slice(text, copied, before)?);
        rewritten.push('<');
        rewritten.push_str(start.name().as_ref());
        for (attribute, _) in attributes.iter().filter(|(_, shadowed)| !shadowed) {
            // The raw value, still escaped; it may have stood in single quotes.
            let raw = attribute.value.replace('"', "&quot;");
            rewritten.push_str(&format!(" {}=\"{raw}\"", attribute.key.as_ref()));
        }
        rewritten.push_str(close);
        copied = position(&reader);
    }
    rewritten.push_str(slice(text, copied, text.len())?);
    Ok(rewritten)
}

/// The tag's attributes, each with whether [`Tag::attr`] passes it over: a prefixed attribute
/// is shadowed by an unprefixed one of the same local name or, when there is none, by an
/// earlier prefixed one.
fn shadowing<'a>(start: &'a BytesStart<'_>) -> Vec<(Attribute<'a>, bool)> {
    let attributes: Vec<Attribute<'a>> = start.attributes().flatten().collect();
    let shadowed = |i: usize, attribute: &Attribute<'_>| {
        let name = attribute.key.local_name();
        is_prefixed(attribute)
            && attributes.iter().enumerate().any(|(j, other)| {
                j != i
                    && other.key.as_namespace_binding().is_none()
                    && other.key.local_name() == name
                    && (!is_prefixed(other) || j < i)
            })
    };
    let flags: Vec<bool> = attributes
        .iter()
        .enumerate()
        .map(|(i, attribute)| shadowed(i, attribute))
        .collect();
    attributes.into_iter().zip(flags).collect()
}

fn position(reader: &Reader<&[u8]>) -> usize {
    usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX)
}

fn slice(text: &str, from: usize, to: usize) -> Result<&str, XmlError> {
    text.get(from..to)
        .ok_or_else(|| XmlError::Syntax(format!("no text at bytes {from}..{to}")))
}

/// serde reports a field given twice as "duplicate field `name`"; for a child element where
/// the wire type has room for one, that is what [`XmlError::Duplicate`] says.
fn from_de(error: DeError) -> XmlError {
    if let DeError::Custom(message) = &error {
        let name = message
            .strip_prefix("duplicate field `")
            .and_then(|rest| rest.strip_suffix('`'));
        if let Some(name) = name {
            return XmlError::Duplicate(name.to_owned());
        }
    }
    XmlError::Syntax(error.to_string())
}

/// Text outside the root element may only be blank.
fn outside_root(outside: bool, text: &str) -> Result<(), XmlError> {
    match outside && !text.trim().is_empty() {
        true => Err(XmlError::Syntax("text outside the root element".to_owned())),
        false => Ok(()),
    }
}

/// Character references and the five predefined entities; there is no DTD to define others.
fn check_reference(reference: &BytesRef<'_>) -> Result<(), XmlError> {
    let is_char = reference
        .resolve_char_ref()
        .map_err(|e| XmlError::Syntax(format!("bad reference: {e}")))?
        .is_some();
    match reference.as_ref() {
        _ if is_char => Ok(()),
        "lt" | "gt" | "amp" | "apos" | "quot" => Ok(()),
        other => Err(XmlError::Syntax(format!("unknown entity &{other};"))),
    }
}

fn syntax(reader: &Reader<&[u8]>, error: impl std::fmt::Display) -> XmlError {
    XmlError::Syntax(format!("{error} (near byte {})", reader.error_position()))
}

/// Drops a UTF-8 byte-order mark and leading whitespace, which some producers put before the
/// XML declaration (where XML itself forbids it).
pub(crate) fn trim_preamble(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text).trim_start()
}

/// Escapes text for element content or attribute values (`&`, `<`, `>`, both quotes) and
/// replaces characters XML 1.0 cannot carry at all with U+FFFD, so a stray control character
/// in a message cannot make vCD reject the request. Tabs and line ends become character
/// references: a parser turns them into spaces in attribute values and `\r` into `\n` in
/// text, but keeps what a reference names.
pub(crate) fn escape_text(text: &str) -> String {
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
mod tests;

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
            assert!(super::check(&document).is_ok(), "{name}");
        }
        let default = variants(r#"<R xmlns="urn:a" x="1"><C/></R>"#, &[]);
        assert_eq!(
            default[1].1,
            r#"<ns0:R xmlns:ns0="urn:a" x="1"><ns0:C/></ns0:R>"#
        );
        assert_eq!(default[3].1, r#"<R x="1"><C/></R>"#);
    }
}
