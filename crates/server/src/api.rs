//! The HTTP surface of `tocsin serve`: the ingest endpoint, the REST API over incidents,
//! detections and the service's status, Prometheus metrics, and the health probes.
//!
//! Every route but `/healthz` and `/readyz` needs credentials whose role grants the
//! route's [`Permission`]: a bearer token, or HTTP Basic with a user's name and password
//! (or a token's name and the token, as TAXII partners send). Every answer that is not a success is a JSON object
//! `{"error": "..."}` with a 4xx status (503 with `Retry-After` when the service cannot take
//! more now), never a panic: bodies, queries and paths are parsed here, by hand, so that no
//! framework rejection answers in another shape.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};
use tocsin_decode::Format;
use tocsin_incident::{Band, Incident, IncidentFilter, IncidentStore, Status};
use tocsin_spool::{FileSpool, Spool};
use tocsin_store::SqliteStore;

use crate::actions::{ActionError, Actions};
use crate::auth::{AuthError, Permission, TokenInfo, TokenStore};
use crate::contain::ContainError;
use crate::ingest::{batch, decompress, BodyFormat};
use crate::metrics::{add, Metrics};
use crate::respond::{apply, resolve, ChangeError, ChangeRequest};
use crate::rules::Reloader;
use crate::users::{UserStore, USER_ID_PREFIX};

/// The OpenAPI document of this API, served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What every handler shares.
pub struct AppState {
    /// Where acknowledged events go.
    pub spool: Arc<FileSpool>,
    /// Who may call: tokens.
    pub tokens: Arc<TokenStore>,
    /// Who may call: users with passwords.
    pub users: Arc<UserStore>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The incident store, opened read-only per request.
    pub store_path: PathBuf,
    /// The rule set, and its reload.
    pub reloader: Arc<Reloader>,
    /// The response actions and their runs.
    pub actions: Arc<Actions>,
    /// The webhooks and their deliveries.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// Requests per token or user.
    pub limiter: crate::limit::RateLimiter,
    /// The largest body once decompressed.
    pub max_decompressed_bytes: usize,
    /// The backlog past which ingest answers 503.
    pub max_backlog_bytes: u64,
    /// The TAXII server, unless `[taxii] enabled = false`.
    pub taxii: Option<Arc<crate::taxii::Taxii>>,
}

/// An answer that is not a success.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An answer with `status` and `message`.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// 400 with `message`.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 503 with `Retry-After`: the service cannot take this now, the sender retries.
    fn unavailable(message: impl Into<String>) -> Self {
        let mut error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message);
        error
            .headers
            .push((header::RETRY_AFTER, HeaderValue::from_static("1")));
        error
    }

    /// 503 with `Retry-After`, after logging why.
    pub(crate) fn internal(what: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{what}");
        ApiError::unavailable(format!("{what}; try again later"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

impl AppState {
    /// The counters, with the spool's durable end read now (the consumer's own view of it
    /// may be a poll behind the last acknowledgement).
    fn snapshot(&self) -> crate::metrics::Snapshot {
        let end = self.spool.durable_end().get();
        self.metrics
            .spool_end
            .fetch_max(end, std::sync::atomic::Ordering::Relaxed);
        self.metrics.snapshot()
    }
}

/// The router over `state`, with the body limit of `max_body_bytes`, and the TAXII
/// server's routes when it is enabled.
pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    let taxii = match &state.taxii {
        Some(taxii) => crate::taxii::routes::router(&taxii.config),
        None => Router::new(),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/status", get(status))
        .route("/api/v1/events", post(ingest))
        .route("/api/v1/incidents", get(list_incidents))
        .route(
            "/api/v1/incidents/{id}",
            get(show_incident).patch(update_incident),
        )
        .route("/api/v1/incidents/{id}/audit", get(incident_audit))
        .route("/api/v1/incidents/{id}/actions/{name}", post(run_action))
        .route("/api/v1/actions", get(list_actions))
        .route("/api/v1/webhooks", get(list_deliveries))
        .route("/api/v1/actions/runs/{run}/approve", post(approve_run))
        .route("/api/v1/detections", get(detections))
        .route("/api/v1/rules", get(rules_status))
        .route("/api/v1/rules/reload", post(reload_rules))
        .route(
            "/api/v1/incidents/{id}/publish",
            post(crate::taxii::publish::publish_route),
        )
        .merge(taxii)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}

/// The longest `Basic` credentials read (base64 of a 64-character name and a 1024-byte
/// password fits with room to spare).
const MAX_BASIC_LEN: usize = 4096;

/// What an `Authorization` header presents. Its `Debug` shows no secret.
pub(crate) enum Credentials {
    /// A token's text (`Bearer`).
    Token(String),
    /// HTTP Basic: a user's name and password, or a token's name and the token.
    Basic {
        /// The user name.
        user: String,
        /// The password (or token).
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token(_) => formatter.write_str("Token(<redacted>)"),
            Credentials::Basic { user, .. } => write!(formatter, "Basic({user:?}, <redacted>)"),
        }
    }
}

impl Credentials {
    /// The credentials of the `Authorization` header: `Basic`, or a token under one of
    /// `token_schemes` (compared without regard to case); `None` when absent or malformed.
    pub(crate) fn from_headers(headers: &HeaderMap, token_schemes: &[&str]) -> Option<Self> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
        let (scheme, rest) = value.split_once(' ')?;
        if token_schemes
            .iter()
            .any(|token_scheme| scheme.eq_ignore_ascii_case(token_scheme))
        {
            return Some(Credentials::Token(rest.trim().to_owned()));
        }
        if !scheme.eq_ignore_ascii_case("basic") || rest.len() > MAX_BASIC_LEN {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let (user, password) = String::from_utf8(decoded)
            .ok()?
            .split_once(':')
            .map(|(user, password)| (user.to_owned(), password.to_owned()))?;
        Some(Credentials::Basic { user, password })
    }

    /// Who the credentials are, as the routes see a caller (a user as its
    /// [`crate::users::UserInfo::principal`]); `None` when they verify as nobody. A Basic
    /// password that is a token named as the user is that token (TAXII partners log in so);
    /// otherwise it is the user's password. Blocks for argon2: call on a blocking thread.
    fn verify(
        &self,
        tokens: &TokenStore,
        users: &UserStore,
    ) -> Result<Option<TokenInfo>, AuthError> {
        match self {
            Credentials::Token(text) => tokens.verify(text),
            Credentials::Basic { user, password } => {
                let token = tokens.verify(password)?.filter(|token| token.name == *user);
                if token.is_some() {
                    return Ok(token);
                }
                Ok(users.verify(user, password)?.map(|found| found.principal()))
            }
        }
    }

    /// [`Credentials::verify`] on a blocking thread: the outer error if that thread failed,
    /// the inner one if the credential store could not be read.
    pub(crate) async fn identify(
        self,
        state: &AppState,
    ) -> Result<Result<Option<TokenInfo>, AuthError>, tokio::task::JoinError> {
        let tokens = Arc::clone(&state.tokens);
        let users = Arc::clone(&state.users);
        tokio::task::spawn_blocking(move || self.verify(&tokens, &users)).await
    }
}

/// The caller of the request, if its role grants `need`: 401 without valid credentials
/// (a bearer token, or HTTP Basic), 403 when its role does not grant it, 429 past its rate.
pub(crate) async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    need: Permission,
) -> Result<TokenInfo, ApiError> {
    let Some(credentials) = Credentials::from_headers(headers, &["Bearer"]) else {
        return Err(unauthorized(
            "a bearer token or HTTP Basic credentials are required",
        ));
    };
    let verified = credentials
        .identify(state)
        .await
        .map_err(|error| ApiError::internal("the credential check failed", error))?
        .map_err(|error| ApiError::internal("the credentials cannot be read", error))?;
    match verified {
        None => Err(unauthorized(
            "the credentials are invalid or revoked, or the user is disabled",
        )),
        Some(token) if token.role.grants(need) => match state.limiter.check(&token.id) {
            Ok(()) => Ok(token),
            Err(wait) => Err(too_many(wait)),
        },
        Some(token) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("the role {} may not do this", token.role.as_str()),
        )),
    }
}

/// 429 with `Retry-After`: the token's rate is spent.
fn too_many(wait_seconds: u64) -> ApiError {
    let mut error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too many requests for these credentials; retry later",
    );
    if let Ok(value) = HeaderValue::from_str(&wait_seconds.to_string()) {
        error.headers.push((header::RETRY_AFTER, value));
    }
    error
}

fn unauthorized(message: &str) -> ApiError {
    let mut error = ApiError::new(StatusCode::UNAUTHORIZED, message);
    error.headers.push((
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"tocsin\", Basic realm=\"tocsin\""),
    ));
    error
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    match state.snapshot().consuming {
        true => Ok(Json(json!({ "status": "ready" }))),
        false => Err(ApiError::unavailable("the pipeline is not running")),
    }
}

async fn metrics(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    state.snapshot();
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        state.metrics.prometheus(),
    )
        .into_response())
}

async fn openapi(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let content_type = HeaderValue::from_static("application/json");
    Ok(([(header::CONTENT_TYPE, content_type)], OPENAPI).into_response())
}

async fn status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    Ok(Json(json!({ "pipeline": state.snapshot() })))
}

/// The query's parameters; a parameter given twice keeps its last value.
fn query_map(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// `POST /api/v1/events`: a batch of events, acknowledged once durable.
async fn ingest(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Ingest).await?;
    let body =
        body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let query = query_map(query.as_deref());
    let format = match query.get("format").map(String::as_str) {
        // A sender that says its body is JSON gets it read as JSON, not sniffed.
        None | Some("auto") if says_json(&headers) => BodyFormat::Named(Format::Json),
        None | Some("auto") => BodyFormat::Sniff,
        Some(name) => BodyFormat::Named(name.parse::<Format>().map_err(ApiError::bad_request)?),
    };
    if let BodyFormat::Named(named) = format {
        if says_json(&headers) && !matches!(named, Format::Json | Format::ApiAudit) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "format={} reads lines of text but the Content-Type says JSON: \
                     send text/plain, or format=json",
                    named.name()
                ),
            ));
        }
    }
    let input = query.get("input").cloned().unwrap_or_else(|| "http".into());
    if input.is_empty() || input.chars().count() > 64 {
        return Err(ApiError::bad_request("input: 1 to 64 characters"));
    }
    let snapshot = state.snapshot();
    if snapshot.backlog_bytes > state.max_backlog_bytes {
        add(&state.metrics.backpressure_refusals, 1);
        return Err(ApiError::unavailable("the pipeline is behind; retry later"));
    }
    let gzipped = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("gzip"));
    let worker = Arc::clone(&state);
    tokio::task::spawn_blocking(move || spool_body(&worker, body.to_vec(), gzipped, format, &input))
        .await
        .map_err(|error| ApiError::internal("the ingest failed", error))?
}

/// Whether the request's `Content-Type` is JSON or JSON Lines (`application/json`,
/// `application/x-ndjson`, `application/jsonl`, `application/*+json`).
fn says_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/json"
            | "application/x-ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
    ) || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Decompresses, checks and appends a body; answers once it is durable.
fn spool_body(
    state: &AppState,
    body: Vec<u8>,
    gzipped: bool,
    format: BodyFormat,
    input: &str,
) -> Result<Json<Value>, ApiError> {
    use crate::ingest::BodyError;
    let body =
        decompress(body, gzipped, state.max_decompressed_bytes).map_err(|error| match error {
            BodyError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, error.to_string())
            }
            other => ApiError::bad_request(other.to_string()),
        })?;
    let batch =
        batch(&body, format, input).map_err(|error| ApiError::bad_request(error.to_string()))?;
    add(&state.metrics.lines_refused, batch.refused as u64);
    if batch.records.is_empty() {
        let message = match batch.refused {
            0 => "the body holds no event".to_owned(),
            n => format!(
                "every line was refused ({n}); the first: line {}: {}",
                batch.refusals[0].line, batch.refusals[0].error
            ),
        };
        return Err(ApiError::bad_request(message));
    }
    let records: Vec<&[u8]> = batch.records.iter().map(Vec::as_slice).collect();
    let position = state.spool.append(&records).map_err(|error| match error {
        tocsin_spool::Error::TooLarge { .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, error.to_string())
        }
        other => ApiError::internal("the spool cannot be written", other),
    })?;
    add(&state.metrics.lines_accepted, batch.accepted as u64);
    Ok(Json(json!({
        "accepted": batch.accepted,
        "refused": batch.refused,
        "refusals": batch.refusals,
        "position": position.get(),
    })))
}

/// Runs a read of the store on a blocking thread.
async fn read_store<T: Send + 'static>(
    state: &AppState,
    read: impl FnOnce(&SqliteStore) -> Result<T, tocsin_store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let path = state.store_path.clone();
    tokio::task::spawn_blocking(move || {
        let store = SqliteStore::open_read_only(&path)?;
        read(&store)
    })
    .await
    .map_err(|error| ApiError::internal("the store read failed", error))?
    .map_err(|error| ApiError::internal("the store cannot be read", error))
}

/// Runs `work` on a blocking thread; its failure (or the thread's) is a 503 saying `what`.
async fn blocking<T, E>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::internal(what, error))?
        .map_err(|error| ApiError::internal(what, error))
}

/// The most incidents or detections one request lists.
const MAX_LIMIT: usize = 1000;

fn limit_of(query: &HashMap<String, String>, default: usize) -> Result<usize, ApiError> {
    match query.get("limit") {
        None => Ok(default),
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
            _ => Err(ApiError::bad_request(format!(
                "limit: a number from 1 to {MAX_LIMIT}"
            ))),
        },
    }
}

/// The incident filter a query asks for.
fn incident_filter(query: &HashMap<String, String>) -> Result<IncidentFilter, ApiError> {
    let mut filter = IncidentFilter {
        limit: Some(limit_of(query, 100)?),
        ..IncidentFilter::default()
    };
    if let Some(statuses) = query.get("status") {
        for name in statuses.split(',') {
            let status = name
                .parse::<Status>()
                .map_err(|e| ApiError::bad_request(format!("status: {e}")))?;
            filter.statuses.push(status);
        }
    }
    if let Some(band) = query.get("min_band") {
        filter.min_band = Some(
            band.parse::<Band>()
                .map_err(|e| ApiError::bad_request(format!("min_band: {e}")))?,
        );
    }
    if let Some(since) = query.get("since_micros") {
        filter.since_micros = Some(
            since
                .parse::<i64>()
                .map_err(|_| ApiError::bad_request("since_micros: microseconds since 1970"))?,
        );
    }
    Ok(filter)
}

/// One incident as `GET /api/v1/incidents` lists it.
fn summary(incident: &Incident) -> Value {
    json!({
        "id": incident.id,
        "title": incident.title,
        "status": incident.lifecycle.status,
        "assignee": incident.lifecycle.assignee,
        "band": incident.severity.band,
        "score": incident.severity.score,
        "first_seen_micros": incident.first_seen_micros,
        "last_seen_micros": incident.last_seen_micros,
        "detections": incident.members.len(),
    })
}

async fn list_incidents(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let filter = incident_filter(&query_map(query.as_deref()))?;
    let incidents = read_store(&state, move |store| store.list_incidents(&filter)).await?;
    Ok(Json(Value::Array(incidents.iter().map(summary).collect())))
}

async fn show_incident(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let id = incident_id(id)?;
    let found = read_store(&state, move |store| store.incident(&id)).await?;
    match found {
        Some(incident) => Ok(Json(json!(incident))),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "no such incident")),
    }
}

/// The incident id a path names: 404, as for any unknown id, when it is longer than an id
/// can be or not UTF-8 once percent-decoded (axum's own rejection would answer a 400 in
/// plain text, before the token is checked).
pub(crate) fn incident_id(id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    match id {
        Ok(Path(id)) if id.len() <= 64 => Ok(id),
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "no such incident")),
    }
}

/// `GET /api/v1/detections`: the newest detections, optionally of one rule (id or title).
async fn detections(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let query = query_map(query.as_deref());
    let limit = limit_of(&query, 100)?;
    let rule = query.get("rule").cloned();
    let alerts = read_store(&state, move |store| store.all_alerts()).await?;
    let chosen: Vec<Value> = alerts
        .iter()
        .rev()
        .filter(|alert| {
            rule.as_deref()
                .is_none_or(|rule| alert.rule.id == rule || alert.rule.title == rule)
        })
        .take(limit)
        .map(|alert| json!(alert))
        .collect();
    Ok(Json(Value::Array(chosen)))
}

/// `GET /api/v1/rules`: the running rule set.
async fn rules_status(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    Ok(Json(json!(state.reloader.status())))
}

/// `POST /api/v1/rules/reload`: compiles the rules again and hands them to the pipeline;
/// 422 with the reason when the set is refused (the running one stays).
async fn reload_rules(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Administer).await?;
    let reloader = Arc::clone(&state.reloader);
    let reloaded = tokio::task::spawn_blocking(move || reloader.reload())
        .await
        .map_err(|error| ApiError::internal("the reload failed", error))?;
    match reloaded {
        Ok(status) => Ok(Json(json!(status))),
        Err(refused) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            refused.to_string(),
        )),
    }
}

/// `PATCH /api/v1/incidents/{id}`: a lifecycle change by an analyst (the token's name is
/// the actor in the audit trail).
async fn update_incident(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = authorize(&state, &headers, Permission::Respond).await?;
    let id = incident_id(id)?;
    let body =
        body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let request: ChangeRequest = json_object(&body)
        .map_err(|error| ApiError::bad_request(format!("the body is not a change: {error}")))?;
    let path = state.store_path.clone();
    let actor = actor(&token);
    let applied = tokio::task::spawn_blocking(move || apply(&path, &id, &request, &actor))
        .await
        .map_err(|error| ApiError::internal("the update failed", error))?;
    match applied {
        Ok((id, records)) => Ok(Json(json!({ "id": id, "changes": records }))),
        Err(error) => Err(change_error(error)),
    }
}

/// The answer to a refused incident change.
pub(crate) fn change_error(error: ChangeError) -> ApiError {
    match error {
        ChangeError::Invalid(message) => ApiError::bad_request(message),
        ChangeError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "no such incident"),
        ChangeError::Refused(message) => ApiError::new(StatusCode::CONFLICT, message),
        ChangeError::Store(error) => ApiError::internal("the store cannot be written", error),
    }
}

/// `GET /api/v1/incidents/{id}/audit`: the incident's audit trail, oldest first.
async fn incident_audit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let id = incident_id(id)?;
    let found = read_store(&state, move |store| match resolve(store, &id) {
        Ok(id) => store.audit_of(&id).map(Some),
        Err(ChangeError::Store(error)) => Err(error),
        Err(_) => Ok(None),
    })
    .await?;
    match found {
        Some(records) => Ok(Json(json!(records))),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "no such incident")),
    }
}

/// A body that must be one JSON object, as `T` (serde alone would also take a JSON array
/// as a struct's fields in order).
pub(crate) fn json_object<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, serde_json::Error> {
    let value: Value = serde_json::from_slice(body)?;
    if !value.is_object() {
        return Err(serde::de::Error::custom("a JSON object is expected"));
    }
    serde_json::from_value(value)
}

/// Who a caller is, as the audit trail names them: `NAME (token ID)` or `NAME (user)`.
pub(crate) fn actor(token: &TokenInfo) -> String {
    match token.id.starts_with(USER_ID_PREFIX) {
        true => format!("{} (user)", token.name),
        false => format!("{} (token {})", token.name, token.id),
    }
}

/// The body of `POST /api/v1/incidents/{id}/actions/{name}`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionRequest {
    /// Values for the action's `{{param.NAME}}` templates.
    #[serde(default)]
    params: std::collections::BTreeMap<String, String>,
}

/// `POST /api/v1/incidents/{id}/actions/{name}`: runs a response action (or asks for its
/// approval).
async fn run_action(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = authorize(&state, &headers, Permission::Respond).await?;
    // A path that is not UTF-8 once percent-decoded names no incident and no action.
    let Ok(Path((id, name))) = path else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no such incident or action",
        ));
    };
    let body =
        body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let request: ActionRequest = match body.is_empty() {
        true => ActionRequest::default(),
        false => json_object(&body).map_err(|error| {
            ApiError::bad_request(format!("the body is not an action request: {error}"))
        })?,
    };
    let worker = Arc::clone(&state);
    let ran = tokio::task::spawn_blocking(move || {
        crate::contain::request(
            &worker.store_path,
            &worker.actions,
            &id,
            &name,
            request.params,
            &actor(&token),
        )
    })
    .await
    .map_err(|error| ApiError::internal("the action failed", error))?;
    ran.map(|run| Json(json!(run))).map_err(contain_error)
}

/// `POST /api/v1/actions/runs/{run}/approve`: a second person approves a run, which runs.
async fn approve_run(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    run: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let token = authorize(&state, &headers, Permission::Respond).await?;
    let run: i64 = match run {
        Ok(Path(run)) => run.parse().ok(),
        Err(_) => None,
    }
    .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such run"))?;
    let worker = Arc::clone(&state);
    let ran = tokio::task::spawn_blocking(move || {
        crate::contain::approve(&worker.store_path, &worker.actions, run, &actor(&token))
    })
    .await
    .map_err(|error| ApiError::internal("the approval failed", error))?;
    ran.map(|run| Json(json!(run))).map_err(contain_error)
}

fn contain_error(error: ContainError) -> ApiError {
    match error {
        ContainError::Incident(error) => change_error(error),
        ContainError::Action(ActionError::NotFound(message)) => {
            ApiError::new(StatusCode::NOT_FOUND, message)
        }
        ContainError::Action(ActionError::Refused(message)) => {
            ApiError::new(StatusCode::CONFLICT, message)
        }
        ContainError::Action(other) => ApiError::internal("the actions cannot be recorded", other),
    }
}

/// `GET /api/v1/actions`: the configured actions and the latest runs.
async fn list_actions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let worker = Arc::clone(&state);
    let runs = blocking("the runs cannot be read", move || worker.actions.runs(100)).await?;
    Ok(Json(
        json!({ "actions": state.actions.configured(), "runs": runs }),
    ))
}

/// `GET /api/v1/webhooks`: the latest deliveries, their state and last error.
async fn list_deliveries(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&state, &headers, Permission::Read).await?;
    let worker = Arc::clone(&state);
    let deliveries = blocking("the deliveries cannot be read", move || {
        worker.webhooks.deliveries(100)
    })
    .await?;
    Ok(Json(json!({ "deliveries": deliveries })))
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;
    use crate::auth::Role;
    use crate::users::Password;

    const PASSWORD: &str = "correct horse battery staple";

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn basic(user: &str, password: &str) -> HeaderMap {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        with_authorization(&format!("Basic {encoded}"))
    }

    fn stores() -> (tempfile::TempDir, TokenStore, UserStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.sqlite");
        let tokens = TokenStore::open(&path).unwrap();
        let users = UserStore::open(&path).unwrap();
        (dir, tokens, users)
    }

    /// Who `headers` verify as, with the API's schemes.
    fn who(headers: &HeaderMap, tokens: &TokenStore, users: &UserStore) -> Option<TokenInfo> {
        Credentials::from_headers(headers, &["Bearer"])?
            .verify(tokens, users)
            .unwrap()
    }

    #[test]
    fn basic_verifies_users_and_named_tokens() {
        let (_dir, tokens, users) = stores();
        let password = Password::new(PASSWORD.into()).unwrap();
        users.create("alice", Role::Viewer, &password, 1).unwrap();
        let (token, text) = tokens.create("cisa", Role::Partner, 2).unwrap();
        let alice = who(&basic("alice", PASSWORD), &tokens, &users).unwrap();
        assert_eq!(
            (alice.id.as_str(), alice.role),
            ("user:alice", Role::Viewer)
        );
        assert_eq!(actor(&alice), "alice (user)");
        assert_eq!(
            who(&basic("cisa", &text), &tokens, &users),
            Some(token.clone())
        );
        assert_eq!(
            who(
                &with_authorization(&format!("Bearer {text}")),
                &tokens,
                &users
            ),
            Some(token)
        );
        for refused in [
            basic("alice", "correct horse battery stapler"),
            basic("bob", PASSWORD),
            basic("other", &text),
            with_authorization(&format!("Bearer {PASSWORD}")),
            with_authorization(&format!("Token {text}")),
        ] {
            assert_eq!(who(&refused, &tokens, &users), None, "{refused:?}");
        }
        users.disable("alice").unwrap();
        assert_eq!(who(&basic("alice", PASSWORD), &tokens, &users), None);
    }

    #[test]
    fn credentials_debug_shows_no_secret() {
        let basic = Credentials::from_headers(&basic("alice", PASSWORD), &["Bearer"]).unwrap();
        let bearer = Credentials::from_headers(&with_authorization("Bearer tsn_x"), &["Bearer"]);
        let shown = format!("{basic:?} {bearer:?}");
        assert!(shown.contains("alice"), "{shown}");
        assert!(
            !shown.contains("horse") && !shown.contains("tsn_x"),
            "{shown}"
        );
    }

    #[test]
    fn unauthorized_names_both_schemes() {
        let response = unauthorized("no").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(challenge.contains("Bearer"), "{challenge}");
        assert!(challenge.contains("Basic realm=\"tocsin\""), "{challenge}");
    }
}
