//! The client against a tiny scripted HTTP responder: paging, loops, errors, statuses.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::*;

/// One scripted answer: status, extra headers, body.
type Answer = (u16, Vec<(&'static str, String)>, String);

/// A responder on a free loopback port that answers each request (one per connection)
/// with `script(request_line, headers)`, and records the request lines.
struct Responder {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Responder {
    fn start(script: impl Fn(&str, &str) -> Answer + Send + 'static) -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut headers = String::new();
                let mut length = 0usize;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    headers.push_str(&header);
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                seen.lock().unwrap().push(line.trim().to_string());
                let (status, extra, body) = script(line.trim(), &headers);
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: {MEDIA_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (key, value) in extra {
                    head.push_str(&format!("{key}: {value}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body.as_bytes());
            }
        });
        Responder { url, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn client(url: &str) -> TaxiiClient {
    let options = ClientOptions {
        status_poll: Duration::from_millis(10),
        status_timeout: Duration::from_secs(2),
        page_limit: Some(2),
        max_pages: 50,
        ..ClientOptions::default()
    };
    let credentials = Credentials::Basic {
        user: "u".into(),
        password: "p".into(),
    };
    TaxiiClient::new(url, &credentials, options).unwrap()
}

fn object(i: usize) -> Value {
    json!({"type": "indicator", "id": format!("indicator--{i}"), "modified": "2026-01-01T00:00:00.000Z"})
}

fn page(objects: &[usize], more: bool, next: Option<&str>) -> String {
    let mut envelope = json!({"objects": objects.iter().map(|i| object(*i)).collect::<Vec<_>>()});
    if more {
        envelope["more"] = json!(true);
    }
    if let Some(next) = next {
        envelope["next"] = json!(next);
    }
    envelope.to_string()
}

#[test]
fn pages_are_followed_by_next_until_the_last_with_the_same_filters() {
    let responder = Responder::start(|line, headers| {
        assert!(headers.contains("Basic dTpw"), "{headers}");
        assert!(headers.contains(MEDIA_TYPE), "{headers}");
        let (body, last) = if line.contains("next=n2") {
            (page(&[5], false, None), "2026-01-03T00:00:00.000000Z")
        } else if line.contains("next=n1") {
            (
                page(&[3, 4], true, Some("n2")),
                "2026-01-02T00:00:00.000000Z",
            )
        } else {
            (
                page(&[1, 2], true, Some("n1")),
                "2026-01-01T00:00:00.000000Z",
            )
        };
        (200, vec![(DATE_ADDED_LAST, last.to_string())], body)
    });
    let filter = ObjectFilter {
        added_after: Some("2025-01-01T00:00:00Z".into()),
        types: vec!["indicator".into(), "sighting".into()],
        ..ObjectFilter::default()
    };
    let fetched = client(&responder.url)
        .get_objects(&format!("{}api1", responder.url), "c-1", &filter)
        .unwrap();
    assert_eq!(fetched.objects.len(), 5);
    assert_eq!(fetched.pages, 3);
    assert_eq!(
        fetched.date_added_last.as_deref(),
        Some("2026-01-03T00:00:00.000000Z")
    );
    let requests = responder.requests();
    assert!(
        requests[0].starts_with("GET /api1/collections/c-1/objects/?"),
        "{requests:?}"
    );
    for request in &requests {
        assert!(
            request.contains("added_after=2025-01-01T00%3A00%3A00Z"),
            "{request}"
        );
        assert!(
            request.contains("match%5Btype%5D=indicator%2Csighting"),
            "{request}"
        );
        assert!(request.contains("limit=2"), "{request}");
    }
}

#[test]
fn a_server_that_sends_the_same_page_forever_is_stopped() {
    let responder = Responder::start(|_, _| (200, vec![], page(&[1, 2], true, Some("same"))));
    let error = client(&responder.url)
        .get_objects(&responder.url, "c", &ObjectFilter::default())
        .unwrap_err();
    assert!(error.to_string().contains("paging loop"), "{error}");
    assert_eq!(responder.requests().len(), 2);
}

#[test]
fn a_server_that_never_ends_is_stopped_at_the_page_bound() {
    let counter = Arc::new(Mutex::new(0usize));
    let responder = Responder::start(move |_, _| {
        let mut n = counter.lock().unwrap();
        *n += 1;
        (200, vec![], page(&[*n], true, Some("same")))
    });
    let error = client(&responder.url)
        .get_objects(&responder.url, "c", &ObjectFilter::default())
        .unwrap_err();
    assert!(error.to_string().contains("more than 50 pages"), "{error}");
}

#[test]
fn a_server_that_sends_big_pages_forever_is_stopped_at_the_byte_bound() {
    let counter = Arc::new(Mutex::new(0usize));
    let responder = Responder::start(move |_, _| {
        let mut n = counter.lock().unwrap();
        *n += 1;
        let mut envelope: Value = serde_json::from_str(&page(&[*n], true, None)).unwrap();
        envelope["next"] = json!(format!("page-{n}"));
        envelope["objects"][0]["description"] = json!("x".repeat(10_000));
        (200, vec![], envelope.to_string())
    });
    let options = ClientOptions {
        max_total_bytes: 100_000,
        ..ClientOptions::default()
    };
    let client = TaxiiClient::new(&responder.url, &Credentials::Anonymous, options).unwrap();
    let error = client
        .get_objects(&responder.url, "c", &ObjectFilter::default())
        .unwrap_err();
    assert!(error.to_string().contains("exceed 100000 bytes"), "{error}");
}

#[test]
fn more_without_objects_or_without_a_way_on_is_an_error() {
    let empty = Responder::start(|_, _| (200, vec![], r#"{"more":true,"next":"x"}"#.into()));
    let error = client(&empty.url)
        .get_objects(&empty.url, "c", &ObjectFilter::default())
        .unwrap_err();
    assert!(error.to_string().contains("empty page"), "{error}");
    let stuck = Responder::start(|_, _| (200, vec![], page(&[1], true, None)));
    let error = client(&stuck.url)
        .get_objects(&stuck.url, "c", &ObjectFilter::default())
        .unwrap_err();
    assert!(error.to_string().contains("neither next"), "{error}");
}

#[test]
fn without_next_the_pages_go_on_by_date_added() {
    let responder = Responder::start(|line, _| {
        if line.contains("added_after=2026-01-01") {
            (200, vec![], page(&[2], false, None))
        } else {
            let header = (DATE_ADDED_LAST, "2026-01-01T00:00:00.000000Z".to_string());
            (200, vec![header], page(&[1], true, None))
        }
    });
    let fetched = client(&responder.url)
        .get_objects(&responder.url, "c", &ObjectFilter::default())
        .unwrap();
    assert_eq!(fetched.objects.len(), 2);
}

#[test]
fn an_error_names_the_url_the_status_and_the_taxii_message() {
    let responder = Responder::start(|_, _| {
        let body =
            json!({"title": "Unauthorized", "description": "bad password", "http_status": "401"});
        (401, vec![], body.to_string())
    });
    let error = client(&responder.url).discovery().unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&format!("{}taxii2/", responder.url)),
        "{text}"
    );
    assert!(
        text.contains("HTTP 401 Unauthorized: Unauthorized: bad password"),
        "{text}"
    );
    let plain = Responder::start(|_, _| (500, vec![], "<html>\n oops".into()));
    let text = client(&plain.url).discovery().unwrap_err().to_string();
    assert!(
        text.contains("HTTP 500 Internal Server Error: \"<html>  oops\""),
        "{text}"
    );
}

#[test]
fn an_answer_that_is_not_the_resource_or_too_large_is_an_error() {
    let responder = Responder::start(|_, _| (200, vec![], "[1,2,3]".into()));
    let error = client(&responder.url).discovery().unwrap_err();
    assert!(matches!(error, ClientError::Protocol { .. }), "{error}");
    let huge = Responder::start(|_, _| {
        (
            200,
            vec![],
            format!("{{\"title\":\"{}\"}}", "x".repeat(4096)),
        )
    });
    let mut options = ClientOptions {
        max_response_bytes: 1024,
        ..ClientOptions::default()
    };
    options.page_limit = None;
    let small = TaxiiClient::new(&huge.url, &Credentials::Anonymous, options).unwrap();
    let error = small.discovery().unwrap_err();
    assert!(matches!(error, ClientError::Transport { .. }), "{error}");
}

#[test]
fn the_api_root_comes_from_the_url_or_the_discovery() {
    let responder = Responder::start(|line, _| {
        let root = json!({"title": "r", "versions": [MEDIA_TYPE], "max_content_length": 1000});
        if line.starts_with("GET /taxii2/ ") {
            (
                200,
                vec![],
                json!({"title": "d", "api_roots": ["/api1/"]}).to_string(),
            )
        } else if line.starts_with("GET /api1/ ") {
            (200, vec![], root.to_string())
        } else {
            (404, vec![], "{}".into())
        }
    });
    let (url, root) = client(&responder.url).resolve_api_root().unwrap();
    assert_eq!(url, format!("{}api1/", responder.url));
    assert_eq!(root.max_content_length, 1000);
    let (url, _) = client(&format!("{}api1", responder.url))
        .resolve_api_root()
        .unwrap();
    assert_eq!(url, format!("{}api1/", responder.url));
    let (url, _) = client(&format!("{}other/", responder.url))
        .resolve_api_root()
        .unwrap();
    assert_eq!(url, format!("{}api1/", responder.url));
}

#[test]
fn added_objects_are_polled_until_complete() {
    let polls = Arc::new(Mutex::new(0usize));
    let responder = Responder::start(move |line, headers| {
        let status = |state: &str, pending: u64| {
            json!({"id": "s-1", "status": state, "total_count": 2, "success_count": 2 - pending,
                   "failure_count": 0, "pending_count": pending})
            .to_string()
        };
        if line.starts_with("POST ") {
            assert!(
                headers.contains(&format!("content-type: {MEDIA_TYPE}"))
                    || headers.contains(&format!("Content-Type: {MEDIA_TYPE}")),
                "{headers}"
            );
            return (202, vec![], status("pending", 2));
        }
        let mut n = polls.lock().unwrap();
        *n += 1;
        if *n < 3 {
            (200, vec![], status("pending", 1))
        } else {
            (200, vec![], status("complete", 0))
        }
    });
    let root = ApiRoot {
        max_content_length: 100_000,
        ..ApiRoot::default()
    };
    let statuses = client(&responder.url)
        .add_objects(&responder.url, &root, "c", &[object(1), object(2)])
        .unwrap();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].status, StatusValue::Complete);
    assert_eq!(statuses[0].success_count, 2);
    let requests = responder.requests();
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert!(requests[1].starts_with("GET /status/s-1/ "), "{requests:?}");
}

#[test]
fn a_status_that_never_completes_times_out() {
    let responder = Responder::start(|_, _| {
        let body = json!({"id": "s", "status": "pending", "total_count": 1, "success_count": 0,
                          "failure_count": 0, "pending_count": 1});
        (202, vec![], body.to_string())
    });
    let root = ApiRoot::default();
    let mut taxii = client(&responder.url);
    taxii.options.status_timeout = Duration::from_millis(100);
    let error = taxii
        .add_objects(&responder.url, &root, "c", &[object(1)])
        .unwrap_err();
    assert!(error.to_string().contains("still pending"), "{error}");
}

#[test]
fn urls_and_credentials_are_handled_with_care() {
    assert!(TaxiiClient::new(
        "ftp://x/",
        &Credentials::Anonymous,
        ClientOptions::default()
    )
    .is_err());
    assert_eq!(origin("https://h:1/a/b/"), "https://h:1/");
    assert_eq!(absolute("https://h/taxii2/", "/api1/"), "https://h/api1/");
    assert_eq!(
        absolute("https://h/taxii2/", "https://o/r/"),
        "https://o/r/"
    );
    assert_eq!(segment("a b/c"), "a%20b%2Fc");
    let secret = Credentials::Basic {
        user: "u".into(),
        password: "hunter2".into(),
    };
    assert!(!format!("{secret:?}").contains("hunter2"));
    assert!(!format!("{:?}", Credentials::Bearer("t0k".into())).contains("t0k"));
}
