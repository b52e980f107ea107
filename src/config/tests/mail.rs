//! `[[notify]] format = "email"`: its keys, their problems, and the SMTP password kept out of
//! every message, `Debug` and the effective configuration.

use secrecy::ExposeSecret;

use super::{Fixture, MINIMAL};
use crate::config::{Recipients, WebhookFormat};

const SMTP_URL: &str = "smtps://blockd%40example.com:s3cret-smtp@mail.example.com:465";

fn fixture() -> Fixture {
    let fixture = Fixture::new();
    std::fs::write(fixture.dir.path().join("smtp-url"), format!("{SMTP_URL}\n")).unwrap();
    fixture
}

fn mail(body: &str) -> String {
    format!(
        "{MINIMAL}\n[http]\napprovers_file = \"approvers.toml\"\n\n\
         [[notify]]\nformat = \"email\"\n{body}\n"
    )
}

#[test]
fn a_mail_receiver_takes_its_server_from_a_file_and_its_addresses_from_the_config() {
    let fixture = fixture();
    let text = format!(
        "{}\n[[notify]]\nformat = \"email\"\nsmtp_url_file = \"smtp-url\"\n\
         from = \"blockd@example.com\"\nto = \"approvers\"\nevents = [\"held\"]\n",
        mail(
            "smtp_url_file = \"smtp-url\"\nca_file = \"mail-ca.pem\"\n\
             from = \"vcd-blockd <blockd@example.com>\"\nto = [\"ops@example.com\", \"Carol <carol@example.com>\"]"
        )
    );
    let settings = fixture.load(&text, &[]).unwrap();
    let [listed, approvers] = &settings.notify[..] else {
        panic!("two receivers: {:?}", settings.notify);
    };
    assert_eq!(listed.format, WebhookFormat::Email);
    assert_eq!(listed.url.expose_secret(), SMTP_URL, "read from the file");
    let mail = listed.mail.as_ref().unwrap();
    assert_eq!(mail.from.to_string(), "vcd-blockd <blockd@example.com>");
    let Recipients::Listed(to) = &mail.to else {
        panic!("{:?}", mail.to);
    };
    let to: Vec<String> = to.iter().map(ToString::to_string).collect();
    assert_eq!(to, ["ops@example.com", "Carol <carol@example.com>"]);
    assert_eq!(
        mail.ca_file.as_deref(),
        Some(fixture.dir.path().join("mail-ca.pem").as_path())
    );
    assert_eq!(approvers.mail.as_ref().unwrap().to, Recipients::Approvers);
    assert_eq!(approvers.events.len(), 1);
    let debug = format!("{settings:?}");
    assert!(!debug.contains("s3cret-smtp"), "{debug}");
}

#[test]
fn mail_problems_name_the_key_and_never_the_smtp_password() {
    let fixture = fixture();
    let cases = [
        (
            mail("from = \"blockd@example.com\"\nto = [\"ops@example.com\"]"),
            "notify[0].smtp_url_file: required",
        ),
        (
            mail(
                "smtp_url = \"https://u:s3cret-smtp@mail.example.com\"\nfrom = \"b@example.com\"\nto = [\"o@example.com\"]",
            ),
            "notify[0].smtp_url: scheme must be smtps:// or smtp://",
        ),
        (
            mail(
                "smtp_url = \"smtp://u@mail.example.com\"\nfrom = \"b@example.com\"\nto = [\"o@example.com\"]",
            ),
            "notify[0].smtp_url: names a user but no password",
        ),
        (
            mail(
                "smtp_url = \"smtps://u:s3cret-smtp@mail.example.com?tls=none\"\nfrom = \"b@example.com\"\nto = [\"o@example.com\"]",
            ),
            "notify[0].smtp_url: takes no query",
        ),
        (
            mail("url_file = \"chat-webhook\"\nfrom = \"b@example.com\"\nto = [\"o@example.com\"]"),
            "notify[0].url_file: a format = \"email\" receiver is given its server as smtp_url_file",
        ),
        (
            mail("smtp_url_file = \"smtp-url\"\nto = [\"o@example.com\"]"),
            "notify[0].from: required",
        ),
        (
            mail(
                "smtp_url_file = \"smtp-url\"\nfrom = \"blockd at example.com\"\nto = [\"o@example.com\"]",
            ),
            ":15:8: notify[0].from: \"blockd at example.com\" is not a mail address",
        ),
        (
            mail("smtp_url_file = \"smtp-url\"\nfrom = \"b@example.com\""),
            "notify[0].to: required",
        ),
        (
            mail("smtp_url_file = \"smtp-url\"\nfrom = \"b@example.com\"\nto = []"),
            ":16:6: notify[0].to: names nobody",
        ),
        (
            mail("smtp_url_file = \"smtp-url\"\nfrom = \"b@example.com\"\nto = [\"ops@\"]"),
            "notify[0].to: \"ops@\" is not a mail address",
        ),
        (
            format!(
                "{MINIMAL}\n[[notify]]\nformat = \"email\"\nsmtp_url_file = \"smtp-url\"\n\
                 from = \"b@example.com\"\nto = \"approvers\"\n"
            ),
            "notify[0].to: \"approvers\" needs http.approvers_file",
        ),
        (
            format!(
                "{MINIMAL}\n[[notify]]\nurl_file = \"chat-webhook\"\nto = [\"o@example.com\"]\n"
            ),
            "notify[0].to: is for format = \"email\" only; this receiver's format is \"json\"",
        ),
    ];
    for (text, message) in cases {
        let error = fixture.load(&text, &[]).unwrap_err().to_string();
        assert!(
            error.contains(message),
            "{error:?} does not contain {message:?}"
        );
        assert!(
            !error.contains("s3cret-smtp"),
            "the password leaked: {error}"
        );
    }
}

#[test]
fn the_effective_configuration_never_shows_an_inline_smtp_url() {
    let fixture = fixture();
    let text = mail(&format!(
        "smtp_url = \"{SMTP_URL}\"\nfrom = \"b@example.com\"\nto = [\"o@example.com\"]"
    ));
    let path = fixture.write(&text);
    let shown = crate::config::effective_toml_with_env(Some(&path), &Default::default()).unwrap();
    assert!(shown.contains("smtp_url = \"<redacted>\""), "{shown}");
    assert!(!shown.contains("s3cret-smtp"), "{shown}");
    let settings = fixture.load(&text, &[]).unwrap();
    assert!(
        settings
            .warnings
            .iter()
            .any(|w| w.contains("notify[0].smtp_url is given in plain text")),
        "{:?}",
        settings.warnings
    );
}
