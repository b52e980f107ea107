//! Config loading: layering, validation messages with their origin, and secret handling.

use std::io::Write;

use super::*;

mod documented;
mod mail;

/// A config directory with secret files, and the file itself.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("vcd-password"), "s3cret-vcd\n").unwrap();
        std::fs::write(
            dir.path().join("amqp-url"),
            "amqp://u:s3cret-amqp@127.0.0.1:5672/%2f\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("chat-webhook"),
            "  https://hooks.example.com/services/T0/B0/s3cret-hook \n",
        )
        .unwrap();
        Fixture { dir }
    }

    fn write(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("config.toml");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
        path
    }

    fn load(&self, text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let path = self.write(text);
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_with_env(Some(&path), &env)
    }
}

const MINIMAL: &str = r#"
[vcd]
url = "https://vcd.example.com/"
password_file = "vcd-password"

[amqp]
url_file = "amqp-url"
"#;

#[test]
fn the_format_names_the_usual_exchange_unless_one_is_given() {
    let fixture = Fixture::new();
    let json = fixture
        .load(&format!("{MINIMAL}format = \"json\"\n"), &[])
        .unwrap();
    assert_eq!(json.amqp.as_ref().unwrap().exchange, "vcd.notifications20");
    let named = fixture
        .load(
            &format!("{MINIMAL}format = \"json\"\nexchange = \"cloud.notifications20\"\n"),
            &[],
        )
        .unwrap();
    assert_eq!(
        named.amqp.as_ref().unwrap().exchange,
        "cloud.notifications20"
    );
}

#[test]
fn minimal_file_gets_documented_defaults() {
    let fixture = Fixture::new();
    let settings = fixture.load(MINIMAL, &[]).unwrap();
    assert_eq!(settings.vcd.url.as_str(), "https://vcd.example.com/");
    assert_eq!(settings.vcd.api_version, ApiVersionChoice::Auto);
    assert!(
        matches!(&settings.vcd.auth, VcdAuth::Password { user, .. } if user == "administrator@System")
    );
    assert_eq!(settings.vcd.request_timeout, Duration::from_secs(30));
    assert_eq!(settings.amqp.as_ref().unwrap().exchange, "systemExchange");
    assert_eq!(
        settings.amqp.as_ref().unwrap().format,
        NotificationFormat::Xml
    );
    assert_eq!(settings.amqp.as_ref().unwrap().queue, "vcd-blockd");
    assert_eq!(
        settings.amqp.as_ref().unwrap().binding_keys,
        ["#.blockingtask.create.#"]
    );
    assert_eq!(
        settings.amqp.as_ref().unwrap().queue_type,
        QueueType::Quorum
    );
    assert_eq!(settings.vcd.max_in_flight, 64);
    assert_eq!(
        settings.amqp.as_ref().unwrap().prefetch,
        80,
        "vcd.max_in_flight and a quarter"
    );
    assert_eq!(settings.amqp.as_ref().unwrap().max_message_bytes, 262_144);
    assert_eq!(settings.policy.path, Path::new("/etc/vcd-blockd/policies"));
    assert_eq!(settings.policy.mode, PolicyMode::Enforce);
    assert_eq!(settings.holds.keepalive, Duration::from_secs(300));
    assert_eq!(settings.holds.extend_by, Duration::from_secs(900));
    assert_eq!(settings.reconcile.interval, Duration::from_secs(300));
    assert_eq!(settings.http.listen, "127.0.0.1:9180".parse().unwrap());
    assert!(settings.http.admin_token.is_none());
    assert!(settings.http.approvers_file.is_none());
    assert!(!settings.http.admin_api());
    assert!(!settings.holds.allow_self_approval);
    assert!(settings.http.public_url.is_none());
    assert!(settings.notify.is_empty());
    assert_eq!(settings.log.format, LogFormat::Text);
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
}

#[test]
fn environment_overrides_the_file() {
    let fixture = Fixture::new();
    let settings = fixture
        .load(
            MINIMAL,
            &[
                ("VCD_BLOCKD__VCD__URL", "http://127.0.0.1:9440"),
                ("VCD_BLOCKD__VCD__API_VERSION", "38.0"),
                ("VCD_BLOCKD__AMQP__PREFETCH", "4"),
                (
                    "VCD_BLOCKD__AMQP__BINDING_KEYS",
                    "#.blockingtask.create.a,#.blockingtask.create.b",
                ),
                ("VCD_BLOCKD__POLICY__MODE", "dry-run"),
            ],
        )
        .unwrap();
    assert_eq!(settings.vcd.url.as_str(), "http://127.0.0.1:9440/");
    assert_eq!(
        settings.vcd.api_version,
        ApiVersionChoice::Fixed("38.0".parse().unwrap())
    );
    assert_eq!(settings.amqp.as_ref().unwrap().prefetch, 4);
    assert_eq!(
        settings.amqp.as_ref().unwrap().binding_keys,
        ["#.blockingtask.create.a", "#.blockingtask.create.b"]
    );
    assert_eq!(settings.policy.mode, PolicyMode::DryRun);
    assert!(settings.warnings.iter().any(|w| w.contains("plain HTTP")));
}

#[test]
fn file_problems_name_file_line_and_column() {
    let fixture = Fixture::new();
    let cases = [
        (
            format!("{MINIMAL}\n[amqp2]\nx = 1\n"),
            ":9:2: ",
            "unknown field `amqp2`",
        ),
        (
            format!("{MINIMAL}prefetch = \"lots\"\n"),
            ":8:12: ",
            "invalid type",
        ),
        (
            format!("{MINIMAL}colour = \"blue\"\n"),
            ":8:1: ",
            "unknown field `colour`",
        ),
        (
            format!("{MINIMAL}format = \"yaml\"\n"),
            ":8:10: ",
            "amqp.format: \"yaml\" is not one of xml, json",
        ),
        (
            MINIMAL.replace("https://vcd.example.com/", "ftp://vcd"),
            ":3:7: ",
            "vcd.url: scheme \"ftp\"",
        ),
        (
            MINIMAL.replace("[amqp]", "request_timeout = \"soon\"\n[amqp]"),
            ":6:19: ",
            "vcd.request_timeout: invalid duration",
        ),
        (format!("{MINIMAL}[vcd\n"), ":8:", "unclosed table"),
        (
            format!("{MINIMAL}exchange = \"amq.fanout\"\n"),
            ":8:12: ",
            "amqp.exchange: amq.fanout cannot route vCD's routing keys by pattern",
        ),
        (
            format!(
                "{MINIMAL}binding_keys = [\n  \"#.blockingtask.create.#\",\n  \"true.*.*.*.com.vmware.vcloud.event.*.*\",\n]\n"
            ),
            ":10:3: ",
            "amqp.binding_keys[1]: \"true.*.*.*.com.vmware.vcloud.event.*.*\" can never match",
        ),
    ];
    for (text, position, message) in cases {
        let error = fixture.load(&text, &[]).unwrap_err().to_string();
        let expected_prefix = format!(
            "{}{position}",
            fixture.dir.path().join("config.toml").display()
        );
        assert!(
            error.starts_with(&expected_prefix),
            "{error:?} does not start with {expected_prefix:?}"
        );
        assert!(
            error.contains(message),
            "{error:?} does not mention {message:?}"
        );
    }
}

#[test]
fn approvers_turn_the_admin_api_on() {
    let fixture = Fixture::new();
    std::fs::write(fixture.dir.path().join("admin-token"), "  t0ken \n\n").unwrap();
    let settings = fixture
        .load(
            &format!(
                "{MINIMAL}[holds]\nallow_self_approval = true\n\
                 [http]\napprovers_file = \"approvers.toml\"\nadmin_token_file = \"admin-token\"\n"
            ),
            &[],
        )
        .unwrap();
    assert!(settings.holds.allow_self_approval);
    assert_eq!(
        settings.http.approvers_file,
        Some(fixture.dir.path().join("approvers.toml"))
    );
    use secrecy::ExposeSecret;
    assert_eq!(
        settings.http.admin_token.unwrap().expose_secret(),
        "t0ken",
        "token files are trimmed"
    );

    let settings = fixture
        .load(
            MINIMAL,
            &[
                (
                    "VCD_BLOCKD__HTTP__APPROVERS_FILE",
                    "/etc/vcd-blockd/approvers.toml",
                ),
                ("VCD_BLOCKD__HTTP__LISTEN", "0.0.0.0:9180"),
                ("VCD_BLOCKD__HOLDS__ALLOW_SELF_APPROVAL", "true"),
            ],
        )
        .unwrap();
    assert!(settings.http.admin_api() && settings.http.admin_token.is_none());
    assert!(settings.holds.allow_self_approval);
    assert!(
        settings
            .warnings
            .iter()
            .any(|w| w.contains("the admin API is reachable from the network")),
        "{:?}",
        settings.warnings
    );

    let error = fixture
        .load(
            &format!("{MINIMAL}[holds]\nallow_self_approval = \"yes\"\n"),
            &[],
        )
        .unwrap_err()
        .to_string();
    assert!(error.contains("config.toml:9:23: invalid type"), "{error}");
}

#[test]
fn environment_problems_name_the_variable() {
    let fixture = Fixture::new();
    let error = fixture
        .load(MINIMAL, &[("VCD_BLOCKD__AMQP__QUEUE_TYPE", "stream")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "environment VCD_BLOCKD__AMQP__QUEUE_TYPE: amqp.queue_type: \"stream\" is not one of quorum, classic"
    );
}

#[test]
fn secrets_come_from_files_and_never_show() {
    let fixture = Fixture::new();
    let settings = fixture.load(MINIMAL, &[]).unwrap();
    let VcdAuth::Password { password, .. } = &settings.vcd.auth else {
        panic!("password auth expected");
    };
    use secrecy::ExposeSecret;
    assert_eq!(password.expose_secret(), "s3cret-vcd");
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains("s3cret"),
        "a secret leaked into Debug output: {debug}"
    );
}

#[test]
fn secret_problems_are_explained_without_the_secret() {
    let fixture = Fixture::new();
    let both = MINIMAL.replace("password_file", "password = \"s3cret\"\npassword_file");
    let error = fixture.load(&both, &[]).unwrap_err().to_string();
    assert!(
        error.contains("give either vcd.password or vcd.password_file"),
        "{error}"
    );

    let missing = MINIMAL.replace(
        "password_file = \"vcd-password\"",
        "password_file = \"nope\"",
    );
    let error = fixture.load(&missing, &[]).unwrap_err().to_string();
    assert!(error.contains("vcd.password_file: cannot read"), "{error}");

    let bad_amqp = fixture.load(
        MINIMAL,
        &[
            ("VCD_BLOCKD__AMQP__URL_FILE", ""),
            ("VCD_BLOCKD__AMQP__URL", "http://u:s3cret@host"),
        ],
    );
    let error = bad_amqp.unwrap_err().to_string();
    assert!(
        error.contains("amqp.url: scheme must be amqp:// or amqps://"),
        "{error}"
    );
    assert!(!error.contains("s3cret"), "{error}");

    let inline = fixture.load(
        MINIMAL,
        &[
            ("VCD_BLOCKD__AMQP__URL_FILE", ""),
            ("VCD_BLOCKD__AMQP__URL", "amqp://127.0.0.1"),
        ],
    );
    assert!(
        inline
            .unwrap()
            .warnings
            .iter()
            .any(|w| w.contains("amqp.url is given in plain text"))
    );
}

#[test]
fn api_token_auth_needs_a_token() {
    let fixture = Fixture::new();
    let text = MINIMAL.replace("password_file = \"vcd-password\"", "auth = \"api-token\"");
    let error = fixture.load(&text, &[]).unwrap_err().to_string();
    assert!(
        error.ends_with("vcd.api_token_file: required (or vcd.api_token, discouraged)"),
        "{error}"
    );
    let text = text.replace(
        "auth = \"api-token\"",
        "auth = \"api-token\"\napi_token_file = \"vcd-password\"",
    );
    assert!(matches!(
        fixture.load(&text, &[]).unwrap().vcd.auth,
        VcdAuth::ApiToken { .. }
    ));
}

#[test]
fn the_shipped_example_config_is_valid() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/vcd-blockd.toml"
    ))
    .unwrap();
    // The example points at /run/credentials; supply the secrets through the environment.
    let fixture = Fixture::new();
    let env = [
        (
            "VCD_BLOCKD__VCD__PASSWORD_FILE",
            fixture
                .dir
                .path()
                .join("vcd-password")
                .display()
                .to_string(),
        ),
        (
            "VCD_BLOCKD__AMQP__URL_FILE",
            fixture.dir.path().join("amqp-url").display().to_string(),
        ),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    fixture.load(&text, &env).unwrap();
}

#[test]
fn tls_needs_both_files_the_admin_listener_and_pem() {
    let fixture = Fixture::new();
    let with_http = |lines: &str| format!("{MINIMAL}\n[http]\n{lines}");
    let cases = [
        (
            "tls_cert_file = \"cert.pem\"\n",
            "http.tls_key_file: required with http.tls_cert_file",
        ),
        (
            "tls_key_file = \"key.pem\"\n",
            "http.tls_cert_file: required with http.tls_key_file",
        ),
        (
            "tls_cert_file = \"cert.pem\"\ntls_key_file = \"key.pem\"\n",
            "set http.admin_listen too",
        ),
        (
            "admin_listen = \"0.0.0.0:9443\"\ntls_cert_file = \"cert.pem\"\ntls_key_file = \"key.pem\"\n",
            "cert.pem",
        ),
        (
            "admin_listen = \"everywhere\"\n",
            "http.admin_listen: \"everywhere\" is not an address:port",
        ),
    ];
    for (lines, expected) in cases {
        let error = fixture
            .load(&with_http(lines), &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{lines}: {error}");
    }
    let separate = fixture
        .load(&with_http("admin_listen = \"0.0.0.0:9443\"\n"), &[])
        .unwrap();
    assert_eq!(separate.http.admin_url(), "http://127.0.0.1:9443");
    assert_eq!(
        separate.http.listen.to_string(),
        "127.0.0.1:9180",
        "probes stay where they were"
    );
}

#[test]
fn webhooks_read_their_url_from_a_file_and_default_to_json_and_every_event() {
    use crate::outcome::WebhookEvent;
    use secrecy::ExposeSecret;
    let fixture = Fixture::new();
    let text = format!(
        "{MINIMAL}\n[http]\npublic_url = \"https://blockd.example.com/\"\n\n\
         [[notify]]\nurl_file = \"chat-webhook\"\n\n\
         [[notify]]\nurl_file = \"chat-webhook\"\nformat = \"teams\"\nevents = [\"held\", \"expired\", \"held\"]\n"
    );
    let settings = fixture.load(&text, &[]).unwrap();
    assert_eq!(
        settings.http.public_url.as_ref().map(Url::as_str),
        Some("https://blockd.example.com/")
    );
    let [first, second] = &settings.notify[..] else {
        panic!("two webhooks expected: {:?}", settings.notify);
    };
    assert_eq!(
        first.url.expose_secret(),
        "https://hooks.example.com/services/T0/B0/s3cret-hook",
        "read from the file, surrounding whitespace trimmed"
    );
    assert_eq!(first.format, WebhookFormat::Json);
    assert_eq!(first.events, WebhookEvent::ALL);
    assert_eq!(second.format, WebhookFormat::Teams);
    assert_eq!(second.events, [WebhookEvent::Held, WebhookEvent::Expired]);
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    let debug = format!("{settings:?}");
    assert!(!debug.contains("s3cret-hook"), "{debug}");
}

#[test]
fn a_public_url_keeps_its_path_without_the_trailing_slash() {
    let fixture = Fixture::new();
    let text = format!("{MINIMAL}\n[http]\npublic_url = \"https://example.com/blockd/\"\n");
    let settings = fixture.load(&text, &[]).unwrap();
    assert_eq!(
        settings.http.public_url.unwrap().as_str(),
        "https://example.com/blockd"
    );
}

#[test]
fn webhook_and_public_url_problems_name_the_key_and_never_the_webhook_url() {
    let fixture = Fixture::new();
    let notify = |body: &str| {
        format!("{MINIMAL}\n[[notify]]\nurl_file = \"chat-webhook\"\n\n[[notify]]\n{body}\n")
    };
    let cases = [
        (
            notify("format = \"json\""),
            "notify[1].url_file: required (or notify[1].url, discouraged)",
        ),
        (
            notify("url = \"https://h/s3cret-hook\"\nurl_file = \"chat-webhook\""),
            "notify[1].url: give either notify[1].url or notify[1].url_file, not both",
        ),
        (
            notify("url = \"hooks.example.com/s3cret-hook\""),
            ":13:7: notify[1].url: not a URL (relative URL without a base)",
        ),
        (
            notify("url = \"ftp://hooks.example.com/s3cret-hook\""),
            ":13:7: notify[1].url: scheme must be https:// or http://",
        ),
        (
            notify("url_file = \"chat-webhook\"\nformat = \"discord\""),
            ":14:10: notify[1].format: \"discord\" is not one of json, slack, teams",
        ),
        (
            notify("url_file = \"chat-webhook\"\nevents = [\"held\", \"approve\"]"),
            ":14:10: notify[1].events: \"approve\" is not one of held, approved, rejected, expired, keepalive_failed",
        ),
        (
            notify("url_file = \"chat-webhook\"\nevents = []"),
            ":14:10: notify[1].events: names no event",
        ),
        (
            notify("url_file = \"chat-webhook\"\ncolour = \"red\""),
            ":14:1: unknown field `colour`",
        ),
        (
            format!("{MINIMAL}\n[http]\npublic_url = \"blockd.example.com\"\n"),
            ":10:14: http.public_url: relative URL without a base",
        ),
        (
            format!("{MINIMAL}\n[http]\npublic_url = \"ftp://blockd.example.com\"\n"),
            ":10:14: http.public_url: \"ftp://blockd.example.com\" is not an http:// or https:// URL",
        ),
        (
            format!("{MINIMAL}\n[http]\npublic_url = \"https://blockd.example.com/#x\"\n"),
            ":10:14: http.public_url: must not have a query or fragment",
        ),
    ];
    for (text, message) in cases {
        let error = fixture.load(&text, &[]).unwrap_err().to_string();
        assert!(
            error.contains(message),
            "{error:?} does not contain {message:?}"
        );
        assert!(
            !error.contains("s3cret-hook"),
            "the webhook URL leaked: {error}"
        );
    }
}

#[test]
fn a_plain_http_or_inline_webhook_url_is_worth_a_warning() {
    let fixture = Fixture::new();
    let text = format!("{MINIMAL}\n[[notify]]\nurl = \"http://127.0.0.1:9/s3cret-hook\"\n");
    let settings = fixture.load(&text, &[]).unwrap();
    let warnings = settings.warnings.join("\n");
    assert!(
        warnings.contains("notify[0].url is given in plain text; prefer notify[0].url_file"),
        "{warnings}"
    );
    assert!(
        warnings.contains("notify[0].url is plain HTTP"),
        "{warnings}"
    );
    assert!(!warnings.contains("s3cret-hook"), "{warnings}");
}

#[test]
fn the_effective_configuration_shows_the_layers_and_never_a_secret() {
    let fixture = Fixture::new();
    let path = fixture.write(
        r#"
[vcd]
url = "https://admin:s3cret-in-url@vcd.example.com/"
password = "s3cret-vcd"

[amqp]
url = "amqp://u:s3cret-amqp@127.0.0.1:5672/%2f"
queue = "from-file"

[http]
admin_token_file = "admin-token"
public_url = "https://blockd.example.com"

[[notify]]
url = "https://hooks.example.com/services/T0/B0/s3cret-hook"

[[notify]]
url_file = "chat-webhook"
format = "slack"
"#,
    );
    let env = [
        ("VCD_BLOCKD__VCD__API_TOKEN", "s3cret-token"),
        ("VCD_BLOCKD__AMQP__QUEUE", "from-env"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let text = effective_toml_with_env(Some(&path), &env).unwrap();
    assert!(!text.contains("s3cret"), "{text}");

    let shown: toml::Table = toml::from_str(&text).unwrap();
    let redacted = Some(show::REDACTED);
    assert_eq!(shown["vcd"]["password"].as_str(), redacted);
    assert_eq!(shown["vcd"]["api_token"].as_str(), redacted);
    assert_eq!(shown["vcd"]["url"].as_str(), redacted);
    assert_eq!(shown["amqp"]["url"].as_str(), redacted);
    assert_eq!(shown["notify"][0]["url"].as_str(), redacted);
    assert_eq!(
        shown["notify"][1]["url_file"].as_str(),
        Some("chat-webhook")
    );
    assert_eq!(
        shown["http"]["public_url"].as_str(),
        Some("https://blockd.example.com"),
        "a URL without credentials is shown"
    );
    assert_eq!(
        shown["http"]["admin_token_file"].as_str(),
        Some("admin-token")
    );
    assert_eq!(shown["amqp"]["queue"].as_str(), Some("from-env"));
    assert_eq!(shown["vcd"]["max_in_flight"].as_integer(), Some(64));
    assert!(
        shown["amqp"].get("prefetch").is_none(),
        "unset: the prefetch follows vcd.max_in_flight"
    );
}

#[test]
fn the_prefetch_follows_max_in_flight_and_amqp_prefetch_caps_it() {
    let fixture = Fixture::new();
    let load = |env: &[(&str, &str)]| fixture.load(MINIMAL, env).unwrap();
    let followed = load(&[("VCD_BLOCKD__VCD__MAX_IN_FLIGHT", "16")]);
    assert_eq!(followed.vcd.max_in_flight, 16);
    assert_eq!(
        followed.amqp.as_ref().unwrap().prefetch,
        20,
        "a quarter more deliveries than slots, for those waiting out a retry"
    );
    let capped = load(&[
        ("VCD_BLOCKD__VCD__MAX_IN_FLIGHT", "16"),
        ("VCD_BLOCKD__AMQP__PREFETCH", "10"),
    ]);
    assert_eq!(capped.amqp.as_ref().unwrap().prefetch, 10);
    let above = load(&[
        ("VCD_BLOCKD__VCD__MAX_IN_FLIGHT", "16"),
        ("VCD_BLOCKD__AMQP__PREFETCH", "500"),
    ]);
    assert_eq!(
        above.amqp.as_ref().unwrap().prefetch,
        20,
        "a cap above what the limit can use changes nothing"
    );
    let most = load(&[("VCD_BLOCKD__VCD__MAX_IN_FLIGHT", "1024")]);
    assert_eq!(most.amqp.as_ref().unwrap().prefetch, 1280);
    let one = load(&[("VCD_BLOCKD__VCD__MAX_IN_FLIGHT", "1")]);
    assert_eq!(one.amqp.as_ref().unwrap().prefetch, 1);
}

#[test]
fn max_in_flight_must_be_between_1_and_1024() {
    let fixture = Fixture::new();
    for bad in ["0", "1025"] {
        let error = fixture
            .load(MINIMAL, &[("VCD_BLOCKD__VCD__MAX_IN_FLIGHT", bad)])
            .unwrap_err()
            .to_string();
        assert!(error.contains("vcd.max_in_flight"), "{error}");
    }
}

#[test]
fn a_cluster_secret_has_at_least_32_bytes_and_its_absence_is_worth_a_warning_with_a_broker() {
    use secrecy::ExposeSecret;
    let fixture = Fixture::new();
    std::fs::write(fixture.dir.path().join("admin-token"), "t0ken\n").unwrap();
    let admin = format!("{MINIMAL}\n[http]\nadmin_token_file = \"admin-token\"\n");
    let settings = fixture.load(&admin, &[]).unwrap();
    assert!(settings.http.cluster_secret.is_none());
    assert!(
        settings
            .warnings
            .iter()
            .any(|w| w.contains("http.cluster_secret_file is not set")),
        "{:?}",
        settings.warnings
    );

    let with_secret = format!("{admin}cluster_secret_file = \"cluster-secret\"\n");
    std::fs::write(fixture.dir.path().join("cluster-secret"), "short-s3cret\n").unwrap();
    let error = fixture.load(&with_secret, &[]).unwrap_err().to_string();
    assert!(error.contains("http.cluster_secret_file"), "{error}");
    assert!(error.contains("holds 12 bytes; at least 32"), "{error}");
    assert!(!error.contains("short-s3cret"), "{error}");

    let secret = "0123456789abcdef0123456789abcdef";
    std::fs::write(
        fixture.dir.path().join("cluster-secret"),
        format!("  {secret}\n"),
    )
    .unwrap();
    let settings = fixture.load(&with_secret, &[]).unwrap();
    assert_eq!(
        settings
            .http
            .cluster_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned()),
        Some(secret.to_owned())
    );
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
    assert!(!format!("{settings:?}").contains(secret), "never in Debug");
}

#[test]
fn max_connections_is_between_1_and_65536() {
    let fixture = Fixture::new();
    assert_eq!(
        fixture.load(MINIMAL, &[]).unwrap().http.max_connections,
        256
    );
    for bad in ["0", "65537"] {
        let error = fixture
            .load(MINIMAL, &[("VCD_BLOCKD__HTTP__MAX_CONNECTIONS", bad)])
            .unwrap_err()
            .to_string();
        assert!(error.contains("http.max_connections"), "{error}");
        assert!(error.contains("is not between 1 and 65536"), "{error}");
    }
}

#[test]
fn a_bad_secret_names_the_file_it_was_read_from() {
    let fixture = Fixture::new();
    std::fs::write(fixture.dir.path().join("amqp-url"), "not a url s3cret\n").unwrap();
    let error = fixture.load(MINIMAL, &[]).unwrap_err().to_string();
    let secret_file = fixture.dir.path().join("amqp-url");
    let config = fixture.dir.path().join("config.toml");
    assert!(
        error.starts_with(&format!(
            "{} (read through amqp.url_file, set at {}:7:12): amqp.url: not a URL",
            secret_file.display(),
            config.display()
        )),
        "{error}"
    );
    assert!(!error.contains("built-in default"), "{error}");
    assert!(!error.contains("s3cret"), "{error}");

    let elsewhere = fixture.dir.path().join("elsewhere-amqp-url");
    std::fs::write(&elsewhere, "http://u:s3cret@host\n").unwrap();
    let error = fixture
        .load(
            MINIMAL,
            &[("VCD_BLOCKD__AMQP__URL_FILE", elsewhere.to_str().unwrap())],
        )
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        format!(
            "{} (read through amqp.url_file, set at environment VCD_BLOCKD__AMQP__URL_FILE): \
             amqp.url: scheme must be amqp:// or amqps://",
            elsewhere.display()
        )
    );

    std::fs::write(
        fixture.dir.path().join("amqp-url"),
        "amqp://u:s3cret-amqp@127.0.0.1:5672/%2f\n",
    )
    .unwrap();
    std::fs::write(fixture.dir.path().join("chat-webhook"), "ftp://hooks\n").unwrap();
    let error = fixture
        .load(
            &format!("{MINIMAL}\n[[notify]]\nurl_file = \"chat-webhook\"\n"),
            &[],
        )
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!(
            "{} (read through notify[0].url_file, set at {}:10:12): notify[0].url: scheme",
            fixture.dir.path().join("chat-webhook").display(),
            config.display()
        )),
        "{error}"
    );
}

#[test]
fn an_unknown_environment_variable_is_named_with_the_nearest_one() {
    let fixture = Fixture::new();
    let cases = [
        (
            "VCD_BLOCKD__AMQP__URL_FIEL",
            "environment VCD_BLOCKD__AMQP__URL_FIEL: names no setting; did you mean \
             VCD_BLOCKD__AMQP__URL_FILE?",
        ),
        (
            "VCD_BLOCKD__VCD_PASSWORD_FILE",
            "environment VCD_BLOCKD__VCD_PASSWORD_FILE: names no setting; did you mean \
             VCD_BLOCKD__VCD__PASSWORD_FILE?",
        ),
        (
            "VCD_BLOCKD_HTTP__LISTEN",
            "environment VCD_BLOCKD_HTTP__LISTEN: is not read (one underscore too few after \
             VCD_BLOCKD); did you mean VCD_BLOCKD__HTTP__LISTEN?",
        ),
        (
            "VCD_BLOCKD__WEATHER__FORECAST",
            "environment VCD_BLOCKD__WEATHER__FORECAST: names no setting; variables are \
             VCD_BLOCKD__SECTION__KEY for a key of the config file, e.g. VCD_BLOCKD__VCD__URL",
        ),
        (
            "VCD_BLOCKD__NOTIFY__URL_FILE",
            "environment VCD_BLOCKD__NOTIFY__URL_FILE: names no setting: [[notify]] entries",
        ),
    ];
    for (name, expected) in cases {
        let error = fixture
            .load(MINIMAL, &[(name, "x")])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with(expected), "{name}: {error}");
    }
}

#[test]
fn every_setting_has_its_variable_and_other_variables_are_left_alone() {
    let keys = raw::environment_keys();
    for key in [
        "vcd.url",
        "vcd.password_file",
        "amqp.url_file",
        "amqp.prefetch",
        "reconcile.interval",
        "log.filter",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
    }
    let fixture = Fixture::new();
    fixture
        .load(
            MINIMAL,
            &[
                ("VCD_BLOCKD_CONFIG", "/etc/vcd-blockd/config.toml"),
                ("VCD_BLOCKD_TOKEN", "/run/token"),
                ("VCD_BLOCKD__RECONCILE__INTERVAL", "1m"),
            ],
        )
        .unwrap();
}

#[test]
fn a_value_of_the_wrong_type_in_the_environment_names_the_variable() {
    let fixture = Fixture::new();
    let error = fixture
        .load(MINIMAL, &[("VCD_BLOCKD__VCD__MAX_IN_FLIGHT", "many")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "environment VCD_BLOCKD__VCD__MAX_IN_FLIGHT: vcd.max_in_flight: invalid type: string \
         \"many\", expected an integer"
    );
}

#[test]
fn slack_reads_its_tokens_from_files_and_refuses_what_cannot_work() {
    use secrecy::ExposeSecret;
    let fixture = Fixture::new();
    let dir = fixture.dir.path();
    std::fs::write(dir.join("bot"), "xoxb-1-2-s3cret-bot\n").unwrap();
    std::fs::write(dir.join("app"), "xapp-1-A1-s3cret-app\n").unwrap();
    std::fs::write(dir.join("signing"), "s3cret-signing\n").unwrap();
    let slack =
        |body: &str| format!("{MINIMAL}\n[http]\napprovers_file = \"a.toml\"\n\n[slack]\n{body}\n");

    let text = slack("bot_token_file = \"bot\"\napp_token_file = \"app\"\nchannel = \"C0123ABCD\"");
    let settings = fixture.load(&text, &[]).unwrap();
    let on = settings.slack.as_ref().unwrap();
    assert_eq!(on.bot_token.expose_secret(), "xoxb-1-2-s3cret-bot");
    assert_eq!(on.api_url.as_str(), "https://slack.com/api");
    assert!(on.signing_secret.is_none() && !on.plain_socket_allowed());
    assert!(
        !settings.warnings.iter().any(|w| w.contains("slack")),
        "{:?}",
        settings.warnings
    );
    let debug = format!("{settings:?}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(
        fixture.load(MINIMAL, &[]).unwrap().slack.is_none(),
        "off by default"
    );

    let stand_in = slack(
        "bot_token_file = \"bot\"\nsigning_secret_file = \"signing\"\nchannel = \"#approvals\"\n\
         api_url = \"http://127.0.0.1:9999/api\"",
    );
    let settings = fixture.load(&stand_in, &[]).unwrap();
    assert!(settings.slack.unwrap().plain_socket_allowed());
    assert!(
        settings
            .warnings
            .iter()
            .any(|w| w.contains("slack.api_url is plain HTTP"))
    );

    let cases = [
        (
            slack("channel = \"C0123ABCD\""),
            "slack.channel",
            "needs slack.bot_token_file",
        ),
        (
            slack("bot_token_file = \"bot\"\nchannel = \"C1\""),
            "slack.app_token_file",
            "or slack.signing_secret_file",
        ),
        (
            slack("bot_token_file = \"app\"\napp_token_file = \"app\"\nchannel = \"C1\""),
            "slack.bot_token_file",
            "xoxb-",
        ),
        (
            slack("bot_token_file = \"bot\"\napp_token_file = \"bot\"\nchannel = \"C1\""),
            "slack.app_token_file",
            "xapp-",
        ),
        (
            slack("bot_token_file = \"bot\"\napp_token_file = \"app\""),
            "slack.channel",
            "must name the channel",
        ),
        (
            slack(
                "bot_token_file = \"bot\"\napp_token_file = \"app\"\nchannel = \"C1\"\napi_url = \"ftp://slack.com/api\"",
            ),
            "slack.api_url",
            "https://",
        ),
    ];
    for (text, key, words) in cases {
        let error = fixture.load(&text, &[]).unwrap_err().to_string();
        assert!(
            error.contains(key) && error.contains(words),
            "{text}\n{error}"
        );
        assert!(!error.contains("s3cret"), "{error}");
    }
}
