//! [`TaxiiClient`]: a blocking TAXII 2.1 client (section 4 onwards) for `tocsin share` and
//! the scheduled pulls of `tocsin serve`.
//!
//! Every request carries the TAXII `Accept` header (and `Content-Type` on POST), the
//! requester's credentials (HTTP Basic or a bearer token) and a user agent; every URL ends
//! with a slash, which some servers (medallion among them) require. What a server answers is
//! read with bounds (bytes per answer, pages per fetch, objects in all, time to wait for a
//! status), so that a hostile or broken server yields an error, never a hang or a panic.
//! Errors name the URL, the HTTP status and the server's TAXII error message.

use std::fmt;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::envelopes::split_into_envelopes;
use crate::resources::{
    ApiRoot, Collection, Collections, Discovery, Envelope, ErrorMessage, Status, StatusValue,
    MEDIA_TYPE,
};

/// The header a server sets to the `date_added` of the last object of a page (section 3.4.2),
/// which an incremental pull passes back as `added_after`.
pub const DATE_ADDED_LAST: &str = "X-TAXII-Date-Added-Last";

/// The longest error body read, in bytes: enough for any TAXII error message.
const ERROR_BODY_BYTES: u64 = 64 << 10;

/// How much of a non-JSON error body an error quotes, in characters.
const QUOTED_CHARS: usize = 200;

/// Who the requester is.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// No `Authorization` header.
    #[default]
    Anonymous,
    /// HTTP Basic (RFC 7617).
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// A bearer token (RFC 6750).
    Bearer(String),
}

impl fmt::Debug for Credentials {
    /// Never prints a secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
            Credentials::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

impl Credentials {
    /// The `Authorization` header value, if any.
    fn header(&self) -> Option<String> {
        match self {
            Credentials::Anonymous => None,
            Credentials::Basic { user, password } => {
                let pair = format!("{user}:{password}");
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            Credentials::Bearer(token) => Some(format!("Bearer {token}")),
        }
    }
}

/// The client's timeouts and bounds; the defaults suit a partner's server over the internet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// How long one request may take in all, answer included.
    pub request_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The largest answer read, in bytes (larger ones are an error).
    pub max_response_bytes: u64,
    /// The most bytes of answers one fetch reads in all (a server that sends big pages
    /// forever must not exhaust the memory of the service that pulls from it).
    pub max_total_bytes: u64,
    /// The most pages one fetch follows before it gives up (a server that never ends).
    pub max_pages: usize,
    /// The most objects one fetch collects.
    pub max_objects: usize,
    /// How long to poll a status until it is complete.
    pub status_timeout: Duration,
    /// The first pause between two polls of a status (doubled up to 5 s).
    pub status_poll: Duration,
    /// The `limit` asked of the server per page (the server may send fewer).
    pub page_limit: Option<u32>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            user_agent: concat!("tocsin/", env!("CARGO_PKG_VERSION")).into(),
            max_response_bytes: 64 << 20,
            max_total_bytes: 512 << 20,
            max_pages: 10_000,
            max_objects: 1_000_000,
            status_timeout: Duration::from_secs(60),
            status_poll: Duration::from_millis(200),
            page_limit: Some(1000),
        }
    }
}

/// Why a TAXII request failed. Each variant names the URL.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL cannot be used.
    #[error("{url}: not an http:// or https:// URL")]
    BadUrl {
        /// The URL given.
        url: String,
    },
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}{}", describe(.message.as_deref(), .text.as_deref()))]
    Http {
        /// The URL requested.
        url: String,
        /// The HTTP status code and its reason.
        status: HttpStatus,
        /// The server's TAXII error message, when it sent one.
        message: Option<Box<ErrorMessage>>,
        /// The start of a body that is not a TAXII error message.
        text: Option<String>,
    },
    /// No answer: connection, TLS, timeout, or an answer too large.
    #[error("{url}: {error}")]
    Transport {
        /// The URL requested.
        url: String,
        /// Why (shown in the message, so not also a `source`).
        error: Box<ureq::Error>,
    },
    /// An answer that is not what TAXII says it is, or that breaks the protocol (a page
    /// loop, too many pages, a status that never completes).
    #[error("{url}: {message}")]
    Protocol {
        /// The URL requested.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// No collection of the API root has this id, alias or title.
    #[error("{url}: no collection with the id, alias or title {key:?} (there are: {known})")]
    NoCollection {
        /// The API root's URL.
        url: String,
        /// What was looked for.
        key: String,
        /// The collections there are, as `id (alias, title)`.
        known: String,
    },
    /// One object is larger than the API root accepts in one request.
    #[error("{url}: the object {id} ({bytes} bytes) is larger than the server's max_content_length ({max})")]
    TooLarge {
        /// The API root's URL.
        url: String,
        /// The object's id.
        id: String,
        /// Its size as JSON.
        bytes: usize,
        /// What the server accepts.
        max: u64,
    },
}

/// An HTTP status code, shown with its reason (`401 Unauthorized`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpStatus(pub u16);

impl fmt::Display for HttpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = ureq::http::StatusCode::from_u16(self.0)
            .ok()
            .and_then(|code| code.canonical_reason());
        match reason {
            Some(reason) => write!(f, "{} {reason}", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The tail of an HTTP error's text: the TAXII title and description, else quoted text.
fn describe(message: Option<&ErrorMessage>, text: Option<&str>) -> String {
    match (message, text) {
        (Some(message), _) => match &message.description {
            Some(description) => format!(": {}: {description}", message.title),
            None => format!(": {}", message.title),
        },
        (None, Some(text)) if !text.is_empty() => format!(": {text:?}"),
        _ => String::new(),
    }
}

/// The filters of a get of objects (section 3.4): each is left out when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectFilter {
    /// Only objects added after this time (RFC 3339).
    pub added_after: Option<String>,
    /// `match[id]`: only these ids.
    pub ids: Vec<String>,
    /// `match[type]`: only these types.
    pub types: Vec<String>,
    /// `match[version]`: `last`, `first`, `all` or timestamps.
    pub versions: Vec<String>,
    /// `match[spec_version]`: only these STIX versions.
    pub spec_versions: Vec<String>,
}

impl ObjectFilter {
    /// The query parameters, in a fixed order.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(after) = &self.added_after {
            pairs.push(("added_after", after.clone()));
        }
        for (key, values) in [
            ("match[id]", &self.ids),
            ("match[type]", &self.types),
            ("match[version]", &self.versions),
            ("match[spec_version]", &self.spec_versions),
        ] {
            if !values.is_empty() {
                pairs.push((key, values.join(",")));
            }
        }
        pairs
    }
}

/// What a get of objects collected over all its pages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    /// The objects, in the order the server sent them.
    pub objects: Vec<Value>,
    /// The latest `X-TAXII-Date-Added-Last` the server sent (pass it as `added_after` next
    /// time to fetch only what was added since).
    pub date_added_last: Option<String>,
    /// How many pages were read.
    pub pages: usize,
}

/// One page as read: the envelope and its `X-TAXII-Date-Added-Last`.
struct Page {
    envelope: Envelope,
    date_added_last: Option<String>,
    /// The size of the answer's body.
    bytes: u64,
}

/// A blocking TAXII 2.1 client of one server.
#[derive(Debug)]
pub struct TaxiiClient {
    agent: ureq::Agent,
    url: String,
    authorization: Option<String>,
    options: ClientOptions,
}

impl TaxiiClient {
    /// A client of the server or API root at `url` (a trailing slash is added if missing).
    pub fn new(
        url: &str,
        credentials: &Credentials,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) || url.contains(' ') {
            return Err(ClientError::BadUrl { url: url.into() });
        }
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(options.connect_timeout))
            .timeout_global(Some(options.request_timeout))
            .user_agent(options.user_agent.as_str())
            .http_status_as_error(false)
            .build()
            .into();
        Ok(TaxiiClient {
            agent,
            url: with_slash(url),
            authorization: credentials.header(),
            options,
        })
    }

    /// The URL the client was made with (ending with a slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's discovery resource (`/taxii2/` of the URL's origin, or the URL itself
    /// when it ends with `/taxii2/`).
    pub fn discovery(&self) -> Result<Discovery, ClientError> {
        let url = if self.url.ends_with("/taxii2/") {
            self.url.clone()
        } else {
            format!("{}taxii2/", origin(&self.url))
        };
        self.get_json(&url, &[])
    }

    /// The information of the API root at `api_root` (a URL).
    pub fn api_root(&self, api_root: &str) -> Result<ApiRoot, ClientError> {
        self.get_json(&with_slash(api_root), &[])
    }

    /// The API root the client's URL names: the URL itself when it is an API root, else the
    /// discovery's default (or only, or first) API root. Returns its URL and information.
    pub fn resolve_api_root(&self) -> Result<(String, ApiRoot), ClientError> {
        if !self.url.ends_with("/taxii2/") && origin(&self.url) != self.url {
            match self.api_root(&self.url) {
                Ok(root) => return Ok((self.url.clone(), root)),
                // Not an API root: try the discovery.
                Err(ClientError::Http { status, .. }) if status.0 == 404 => {}
                Err(ClientError::Protocol { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        let discovery = self.discovery()?;
        let chosen = discovery
            .default
            .clone()
            .or_else(|| discovery.api_roots.first().cloned())
            .ok_or_else(|| ClientError::Protocol {
                url: self.url.clone(),
                message: "the discovery resource names no API root".into(),
            })?;
        let absolute = absolute(&self.url, &chosen);
        if origin(&absolute) != origin(&self.url) {
            // Credentials go only where the operator sent them: not to another host, port
            // or scheme (an https discovery pointing at http would expose them).
            return Err(ClientError::Protocol {
                url: self.url.clone(),
                message: format!(
                    "the discovery points to an API root of another origin ({absolute}); \
                     give that API root's URL itself if it is to be trusted"
                ),
            });
        }
        let root = self.api_root(&absolute)?;
        Ok((with_slash(&absolute), root))
    }

    /// The collections of the API root at `api_root`, with the requester's rights.
    pub fn collections(&self, api_root: &str) -> Result<Vec<Collection>, ClientError> {
        let url = format!("{}collections/", with_slash(api_root));
        let collections: Collections = self.get_json(&url, &[])?;
        Ok(collections.collections)
    }

    /// The collection of `api_root` whose id, else alias, else title is `key`.
    pub fn find_collection(&self, api_root: &str, key: &str) -> Result<Collection, ClientError> {
        let collections = self.collections(api_root)?;
        find_in(&collections, key)
            .cloned()
            .ok_or_else(|| ClientError::NoCollection {
                url: with_slash(api_root),
                key: key.into(),
                known: collections
                    .iter()
                    .map(|c| {
                        format!(
                            "{} ({}, {})",
                            c.id,
                            c.alias.as_deref().unwrap_or("-"),
                            c.title
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            })
    }

    /// Every object of a collection that `filter` lets through, following the pages
    /// (`more` and `next`, or `added_after` with `X-TAXII-Date-Added-Last` on servers that
    /// give no `next`) until the last one.
    pub fn get_objects(
        &self,
        api_root: &str,
        collection_id: &str,
        filter: &ObjectFilter,
    ) -> Result<Fetched, ClientError> {
        let url = format!(
            "{}collections/{}/objects/",
            with_slash(api_root),
            segment(collection_id)
        );
        let mut paging = Paging::new(&url, filter.clone(), &self.options);
        let mut fetched = Fetched::default();
        while let Some(query) = paging.query(self.options.page_limit) {
            let page = self.get_page(&url, &query)?;
            fetched.pages += 1;
            paging.advance(&page, &mut fetched)?;
        }
        Ok(fetched)
    }

    /// Adds `objects` to a collection, in as many envelopes as the API root's
    /// `max_content_length` needs, and waits until each request's status is complete (or
    /// [`ClientOptions::status_timeout`] passes). Returns the statuses, one per envelope.
    pub fn add_objects(
        &self,
        api_root: &str,
        root: &ApiRoot,
        collection_id: &str,
        objects: &[Value],
    ) -> Result<Vec<Status>, ClientError> {
        let root_url = with_slash(api_root);
        let url = format!("{root_url}collections/{}/objects/", segment(collection_id));
        let bodies = split_into_envelopes(objects, root.max_content_length).map_err(|large| {
            ClientError::TooLarge {
                url: root_url.clone(),
                id: large.id,
                bytes: large.bytes,
                max: root.max_content_length,
            }
        })?;
        let mut statuses = Vec::with_capacity(bodies.len());
        for body in bodies {
            let status: Status = self.post_json(&url, body)?;
            statuses.push(self.wait_for(&root_url, status)?);
        }
        Ok(statuses)
    }

    /// The status resource `id` of `api_root`.
    pub fn status(&self, api_root: &str, id: &str) -> Result<Status, ClientError> {
        let url = format!("{}status/{}/", with_slash(api_root), segment(id));
        self.get_json(&url, &[])
    }

    /// Polls `status` until it is complete, or errs after the status timeout.
    fn wait_for(&self, api_root: &str, mut status: Status) -> Result<Status, ClientError> {
        let started = Instant::now();
        let mut pause = self.options.status_poll;
        while status.status == StatusValue::Pending {
            if started.elapsed() >= self.options.status_timeout {
                return Err(ClientError::Protocol {
                    url: format!("{api_root}status/{}/", segment(&status.id)),
                    message: format!(
                        "the status is still pending after {} s ({} of {} objects pending)",
                        self.options.status_timeout.as_secs(),
                        status.pending_count,
                        status.total_count
                    ),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(5));
            status = self.status(api_root, &status.id)?;
        }
        Ok(status)
    }

    /// Reads one page of objects.
    fn get_page(&self, url: &str, query: &[(&str, String)]) -> Result<Page, ClientError> {
        let response = self.send(url, self.request(self.agent.get(url), query).call())?;
        let date_added_last = header(&response, DATE_ADDED_LAST);
        let body = self.read_body(url, response)?;
        Ok(Page {
            envelope: parse_json(url, &body)?,
            date_added_last,
            bytes: body.len() as u64,
        })
    }

    /// GETs `url` and reads its JSON answer as `T`.
    fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let response = self.send(url, self.request(self.agent.get(url), query).call())?;
        self.read_json(url, response)
    }

    /// POSTs `body` (TAXII JSON) to `url` and reads its JSON answer as `T`.
    fn post_json<T: DeserializeOwned>(&self, url: &str, body: Vec<u8>) -> Result<T, ClientError> {
        let request = self
            .request(self.agent.post(url), &[])
            .header("Content-Type", MEDIA_TYPE);
        let response = self.send(url, request.send(&body[..]))?;
        self.read_json(url, response)
    }

    /// Adds the headers every request carries, and the query.
    fn request<B>(
        &self,
        mut request: ureq::RequestBuilder<B>,
        query: &[(&str, String)],
    ) -> ureq::RequestBuilder<B> {
        request = request.header("Accept", MEDIA_TYPE);
        if let Some(authorization) = &self.authorization {
            request = request.header("Authorization", authorization);
        }
        for (key, value) in query {
            request = request.query(key, value);
        }
        request
    }

    /// Turns a transport failure or an error status into a [`ClientError`].
    fn send(
        &self,
        url: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        let response = sent.map_err(|source| ClientError::Transport {
            url: url.into(),
            error: Box::new(source),
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(http_error(url, response))
    }

    /// Reads a bounded JSON answer as `T`.
    fn read_json<T: DeserializeOwned>(
        &self,
        url: &str,
        response: ureq::http::Response<ureq::Body>,
    ) -> Result<T, ClientError> {
        let body = self.read_body(url, response)?;
        parse_json(url, &body)
    }

    /// Reads an answer's body, at most `max_response_bytes` of it.
    fn read_body(
        &self,
        url: &str,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> Result<Vec<u8>, ClientError> {
        response
            .body_mut()
            .with_config()
            .limit(self.options.max_response_bytes)
            .read_to_vec()
            .map_err(|source| ClientError::Transport {
                url: url.into(),
                error: Box::new(source),
            })
    }
}

/// An answer's body read as the TAXII resource `T`.
fn parse_json<T: DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|error| ClientError::Protocol {
        url: url.into(),
        message: format!("the answer is not the TAXII resource expected: {error}"),
    })
}

/// The error of a non-2xx answer, with the server's TAXII error message if it sent one.
fn http_error(url: &str, mut response: ureq::http::Response<ureq::Body>) -> ClientError {
    let status = HttpStatus(response.status().as_u16());
    let bytes = response
        .body_mut()
        .with_config()
        .limit(ERROR_BODY_BYTES)
        .read_to_vec()
        .unwrap_or_default();
    let message = serde_json::from_slice::<ErrorMessage>(&bytes)
        .ok()
        .map(Box::new);
    let text = message.is_none().then(|| quote(&bytes));
    ClientError::Http {
        url: url.into(),
        status,
        message,
        text,
    }
}

/// The start of a body as printable text on one line.
fn quote(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(QUOTED_CHARS)
        .collect::<String>()
        .trim()
        .to_string()
}

/// A response header as text, if present and printable.
fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    let value = response.headers().get(name)?.to_str().ok()?.trim();
    (!value.is_empty() && value.len() <= 64).then(|| value.to_string())
}

/// The collection whose id, else alias, else title is `key`.
fn find_in<'a>(collections: &'a [Collection], key: &str) -> Option<&'a Collection> {
    collections
        .iter()
        .find(|c| c.id == key)
        .or_else(|| collections.iter().find(|c| c.alias.as_deref() == Some(key)))
        .or_else(|| collections.iter().find(|c| c.title == key))
}

/// The paging state of one get of objects: what to ask next, and the guards against a
/// server whose pages never end.
struct Paging<'a> {
    url: &'a str,
    filter: ObjectFilter,
    next: Option<String>,
    done: bool,
    /// `(next, first object id, its version)` of every page read: a repeat is a loop.
    seen: std::collections::HashSet<(Option<String>, String, String)>,
    max_pages: usize,
    max_objects: usize,
    max_total_bytes: u64,
    pages: usize,
    /// The bytes of every answer read so far.
    bytes: u64,
}

impl<'a> Paging<'a> {
    fn new(url: &'a str, filter: ObjectFilter, options: &ClientOptions) -> Self {
        Paging {
            url,
            filter,
            next: None,
            done: false,
            seen: std::collections::HashSet::new(),
            max_pages: options.max_pages,
            max_objects: options.max_objects,
            max_total_bytes: options.max_total_bytes,
            pages: 0,
            bytes: 0,
        }
    }

    /// The query of the next page, or `None` when the last was read.
    fn query(&self, limit: Option<u32>) -> Option<Vec<(&'static str, String)>> {
        if self.done {
            return None;
        }
        let mut pairs = self.filter.pairs();
        if let Some(limit) = limit {
            pairs.push(("limit", limit.to_string()));
        }
        if let Some(next) = &self.next {
            pairs.push(("next", next.clone()));
        }
        Some(pairs)
    }

    /// Takes a page in, and decides what comes next.
    fn advance(&mut self, page: &Page, fetched: &mut Fetched) -> Result<(), ClientError> {
        self.pages += 1;
        self.bytes = self.bytes.saturating_add(page.bytes);
        if self.bytes > self.max_total_bytes {
            return self.fail(&format!(
                "the answers exceed {} bytes in all; stopped",
                self.max_total_bytes
            ));
        }
        let envelope = &page.envelope;
        fetched.objects.extend(envelope.objects.iter().cloned());
        if let Some(last) = &page.date_added_last {
            fetched.date_added_last = Some(latest(fetched.date_added_last.take(), last));
        }
        if !envelope.more {
            self.done = true;
            return Ok(());
        }
        self.guard(page, fetched)?;
        match &envelope.next {
            Some(next) => self.next = Some(next.clone()),
            None => self.advance_by_date(page)?,
        }
        Ok(())
    }

    /// Errs when a page says `more` but the fetch cannot go on safely.
    fn guard(&mut self, page: &Page, fetched: &Fetched) -> Result<(), ClientError> {
        let first = page.envelope.objects.first();
        let Some(first) = first else {
            return self.fail("the server says there is more, but sent an empty page");
        };
        let key = (
            page.envelope.next.clone(),
            text_of(first, "id"),
            version_of(first),
        );
        if !self.seen.insert(key) {
            return self.fail("the server sent the same page twice (a paging loop)");
        }
        if self.pages >= self.max_pages {
            return self.fail(&format!("more than {} pages; stopped", self.max_pages));
        }
        if fetched.objects.len() >= self.max_objects {
            return self.fail(&format!("more than {} objects; stopped", self.max_objects));
        }
        Ok(())
    }

    /// Pages by `added_after` when the server gives `more` without `next`.
    fn advance_by_date(&mut self, page: &Page) -> Result<(), ClientError> {
        let Some(last) = &page.date_added_last else {
            return self.fail(
                "the server says there is more, but gives neither next nor X-TAXII-Date-Added-Last",
            );
        };
        if self.filter.added_after.as_deref() == Some(last.as_str()) {
            return self.fail("X-TAXII-Date-Added-Last did not move on (a paging loop)");
        }
        self.filter.added_after = Some(last.clone());
        Ok(())
    }

    fn fail(&self, message: &str) -> Result<(), ClientError> {
        Err(ClientError::Protocol {
            url: self.url.into(),
            message: message.into(),
        })
    }
}

/// The later of two RFC 3339 times (the text of the later one; `new` if either is not a time).
pub fn latest(old: Option<String>, new: &str) -> String {
    let parse = |text: &str| chrono::DateTime::parse_from_rfc3339(text).ok();
    match old {
        Some(old) => match (parse(&old), parse(new)) {
            (Some(a), Some(b)) if a > b => old,
            _ => new.to_string(),
        },
        None => new.to_string(),
    }
}

/// A string property of a STIX object, or empty.
fn text_of(object: &Value, key: &str) -> String {
    object
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A STIX object's version: `modified`, else `created`, else empty.
fn version_of(object: &Value) -> String {
    let modified = text_of(object, "modified");
    if modified.is_empty() {
        text_of(object, "created")
    } else {
        modified
    }
}

/// `url` ending with one slash.
fn with_slash(url: &str) -> String {
    let trimmed = url.trim();
    if trimmed.ends_with('/') {
        trimmed.to_string()
    } else {
        format!("{trimmed}/")
    }
}

/// `scheme://host[:port]/` of `url`.
fn origin(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url[..after_scheme + i + 1].to_string(),
        None => with_slash(url),
    }
}

/// `reference` made absolute against `base` (an API root may be named by a full URL, an
/// absolute path or a relative name).
fn absolute(base: &str, reference: &str) -> String {
    if reference.contains("://") {
        reference.to_string()
    } else if let Some(path) = reference.strip_prefix('/') {
        format!("{}{path}", origin(base))
    } else {
        format!("{}{reference}", origin(base))
    }
}

/// A path segment with everything outside the URL-safe characters percent-encoded.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
