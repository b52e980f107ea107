//! Unit tests for xml: the guard pass, the deserializer behind it and the start tags `scan`
//! shows.

use serde::Deserialize;

use super::*;

/// A wire type in the style of the real ones: attributes and children by local name.
#[derive(Debug, PartialEq, Deserialize)]
struct Root {
    #[serde(rename = "@kind")]
    kind: Option<String>,
    #[serde(rename = "Child")]
    child: Option<Child>,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Child {
    #[serde(rename = "@name")]
    name: Option<String>,
    #[serde(rename = "$text")]
    text: Option<String>,
}

/// An element with one attribute `a` and text.
#[derive(Debug, PartialEq, Deserialize)]
struct Texted {
    #[serde(rename = "@a")]
    a: Option<String>,
    #[serde(rename = "$text")]
    text: Option<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Attributes {
    #[serde(rename = "@type")]
    kind: Option<String>,
    #[serde(rename = "@id")]
    id: Option<String>,
}

fn read<T: serde::de::DeserializeOwned>(document: &str) -> Result<T, XmlError> {
    check(document)?.deserialize()
}

/// The value of attribute `name` on the root, as `scan` shows it.
fn root_attr(document: &str, name: &str) -> Option<String> {
    let mut value = None;
    scan(document, |depth, tag| {
        if depth == 0 {
            value = tag.attr(name)?.map(Cow::into_owned);
        }
        Ok(())
    })
    .unwrap();
    value
}

#[test]
fn matches_by_local_name_whatever_the_prefix() {
    let documents = [
        r#"<ns0:Root xmlns:ns0="urn:x" ns0:kind="a"><ns0:Child name="c">text</ns0:Child></ns0:Root>"#,
        r#"<Root xmlns="urn:y" kind="a"><Child name="c">text</Child></Root>"#,
        r#"<Root kind="a"><Child name="c">text</Child></Root>"#,
        "\u{feff}\n  <?xml version=\"1.0\"?>\n<a:Root xmlns:a=\"urn:z\" kind=\"a\"><b:Child xmlns:b=\"urn:w\" name=\"c\"> text </b:Child></a:Root>",
    ];
    for document in documents {
        let checked = check(document).unwrap();
        assert_eq!(checked.root(), "Root", "{document}");
        let root: Root = checked.deserialize().unwrap();
        assert_eq!(root.kind.as_deref(), Some("a"), "{document}");
        assert_eq!(
            root_attr(document, "kind").as_deref(),
            Some("a"),
            "{document}"
        );
        let child = root.child.unwrap();
        assert_eq!(
            (child.name.as_deref(), child.text.as_deref().map(str::trim)),
            (Some("c"), Some("text")),
            "{document}"
        );
    }
}

#[test]
fn namespace_declarations_are_not_attributes_and_own_attributes_win() {
    let own = [
        r#"<Root xmlns:type="urn:t" xsi:type="prefixed" type="own" xmlns:xsi="urn:xsi"/>"#,
        r#"<Root type="own" xsi:type="prefixed" xmlns:xsi="urn:xsi"/>"#,
        r#"<Root a:type="first" xmlns:a="urn:a" type="own" b:type="second" xmlns:b="urn:b"/>"#,
    ];
    for document in own {
        let root: Attributes = read(document).unwrap();
        assert_eq!(root.kind.as_deref(), Some("own"), "{document}");
        assert_eq!(
            root_attr(document, "type").as_deref(),
            Some("own"),
            "{document}"
        );
    }
    // Without an own attribute the first prefixed one stands in.
    let prefixed = r#"<Root a:type="first" xmlns:a="urn:a" b:type="second" xmlns:b="urn:b"/>"#;
    let root: Attributes = read(prefixed).unwrap();
    assert_eq!(root.kind.as_deref(), Some("first"));
    assert_eq!(root_attr(prefixed, "type").as_deref(), Some("first"));

    let evil = r#"<Root xmlns:id="urn:evil"/>"#;
    let root: Attributes = read(evil).unwrap();
    assert_eq!(root.id, None);
    assert_eq!(root_attr(evil, "id"), None);
}

#[test]
fn shadowed_attributes_are_dropped_and_nothing_else_changes() {
    let document = "<?xml version=\"1.0\"?>\n<!-- c --><R xmlns:x=\"urn:x\" x:type='a \"q\"' \
                    type=\"own\"><x:C x:type=\"p\" type=\"c\" name=\"&lt;n&gt;\">t &amp; \
                    <![CDATA[<d>]]></x:C><D/></R>";
    assert_eq!(
        without_shadowed_attributes(document).unwrap(),
        "<?xml version=\"1.0\"?>\n<!-- c --><R xmlns:x=\"urn:x\" type=\"own\"><x:C type=\"c\" \
         name=\"&lt;n&gt;\">t &amp; <![CDATA[<d>]]></x:C><D/></R>"
    );
    let kept = r#"<R x:type='a "q"' xmlns:x="urn:x"/>"#;
    assert_eq!(
        without_shadowed_attributes(kept).unwrap(),
        kept,
        "nothing shadowed"
    );
    let single = r#"<R x:type='a "q"' b:type="b"/>"#;
    assert_eq!(
        without_shadowed_attributes(single).unwrap(),
        r#"<R x:type="a &quot;q&quot;"/>"#
    );
}

#[test]
fn resolves_predefined_entities_character_references_and_cdata() {
    let document =
        r#"<R a="&lt;&amp;&quot;&#65;">x &lt;&gt;&amp;&apos;&quot;&#x42;<![CDATA[<&]]></R>"#;
    let root: Texted = read(document).unwrap();
    assert_eq!(root.a.as_deref(), Some("<&\"A"));
    assert_eq!(root.text.as_deref().map(str::trim), Some("x <>&'\"B<&"));
    assert_eq!(root_attr(document, "a").as_deref(), Some("<&\"A"));
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
    let cases: [(&str, &str); 14] = [
        ("", "no root"),
        ("   \n", "no root"),
        (
            "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">]><R>&lol;</R>",
            "DOCTYPE",
        ),
        ("<R>&lol;</R>", "unknown entity"),
        ("<R a=\"&lol;\"/>", "lol"),
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
        let error = check(document).unwrap_err().to_string();
        assert!(error.contains(expected), "{document:?}: {error}");
    }
}

#[test]
fn single_child_refuses_to_guess_between_two() {
    #[derive(Debug, Deserialize)]
    struct Single {
        #[serde(rename = "C")]
        _c: Option<String>,
    }
    #[derive(Debug, Deserialize)]
    struct Absent {
        #[serde(rename = "D")]
        d: Option<String>,
    }
    #[derive(Debug, Deserialize)]
    struct Repeated {
        #[serde(rename = "C")]
        c: Vec<String>,
    }
    for document in ["<R><C>1</C><C>2</C></R>", "<R><C>1</C><D/><C>2</C></R>"] {
        let single = read::<Single>(document).unwrap_err();
        assert_eq!(single, XmlError::Duplicate("C".to_owned()), "{document}");
        assert_eq!(single.to_string(), "element <C> appears more than once");
        assert_eq!(
            read::<Repeated>(document).unwrap().c,
            ["1", "2"],
            "{document}"
        );
    }
    assert_eq!(read::<Absent>("<R><C>1</C><C>2</C></R>").unwrap().d, None);
}

#[test]
fn escape_text_round_trips_through_the_parser() {
    let hostile = "a<b>&c \"d\" 'e'\u{1}\tf</Message><Evil/>";
    let escaped = escape_text(hostile);
    assert!(
        !escaped.contains('<') && !escaped.contains('"'),
        "{escaped}"
    );
    let document = format!("<M a=\"{escaped}\">{escaped}</M>");
    let root: Texted = read(&document).unwrap();
    let expected = "a<b>&c \"d\" 'e'\u{fffd}\tf</Message><Evil/>";
    assert_eq!(
        (root.text.as_deref(), root.a.as_deref()),
        (Some(expected), Some(expected))
    );
    let mut elements = 0;
    scan(&document, |_, _| {
        elements += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(elements, 1);
}

#[test]
fn line_ends_and_tabs_survive_as_references() {
    let message = "one\r\ntwo\tthree\rfour\n";
    let escaped = escape_text(message);
    let root: Texted = read(&format!("<M a=\"{escaped}\">{escaped}</M>")).unwrap();
    assert_eq!(
        (root.text.as_deref(), root.a.as_deref()),
        (Some(message), Some(message))
    );
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
        assert!(check(text).is_err(), "check accepted {text:?}");
        assert!(scan(text, |_, _| Ok(())).is_err(), "scan accepted {text:?}");
    }
    let mut seen = Vec::new();
    scan(
        "<a:R x=\"1\"><B y=\"2\"><C/></B><B/></a:R>",
        |depth, tag| {
            seen.push((
                depth,
                tag.name().to_owned(),
                tag.attr("y")?.map(Cow::into_owned),
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

#[test]
fn a_visitor_error_stops_the_scan() {
    let error = scan("<R><A/><B/></R>", |_, tag| match tag.name() {
        "A" => Err(XmlError::Syntax("stop at A".to_owned())),
        _ => Ok(()),
    })
    .unwrap_err();
    assert_eq!(error, XmlError::Syntax("stop at A".to_owned()));
}

#[test]
fn damaged_documents_with_shadowed_attributes_give_errors_not_panics() {
    let document = r#"<?xml version="1.0"?><a:R xmlns:a="urn:a" a:kind='x "y"' kind="k"><a:Child a:name="p" name="c">t &amp; u</a:Child></a:R>"#;
    let root: Root = read(document).unwrap();
    assert_eq!(root.kind.as_deref(), Some("k"));
    assert_eq!(root.child.and_then(|c| c.name).as_deref(), Some("c"));
    for at in 0..document.len() {
        for replacement in ["", "<", "&", "\"", "'", ":", " a:kind=\"z\""] {
            let damaged = format!("{}{replacement}{}", &document[..at], &document[at + 1..]);
            if let Ok(checked) = check(&damaged) {
                let _ = checked.deserialize::<Root>();
            }
        }
    }
}
