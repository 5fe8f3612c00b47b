//! The TAXII 2.1 endpoints (sections 4 and 5): discovery at `/taxii2/`, and under the API
//! root `/{api_root}/`: its information, `status/{id}/`, `collections/`,
//! `collections/{id}/` (id or alias), `manifest/`, `objects/` (get and add),
//! `objects/{object_id}/` (get and delete) and `objects/{object_id}/versions/`. Each
//! answers with and without the trailing slash; anything else under those prefixes is a
//! TAXII 404.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{any, get, MethodRouter};
use axum::Router;
use serde_json::Value;
use tocsin_taxii::{
    ApiRoot, Collection, CollectionRecord, Collections, Discovery, Envelope, Manifest, Query,
    StoreError, Versions, MEDIA_TYPE, STIX_MEDIA_TYPE,
};

use super::access::{may_use_taxii, rights, Rights};
use super::http::{
    authenticate, check_accept, check_content_type, paged, taxii_empty, taxii_json, TaxiiError,
};
use super::{Taxii, TaxiiConfig};
use crate::api::AppState;
use crate::auth::TokenInfo;

type Shared = State<Arc<AppState>>;

/// The TAXII routes for `config`, to merge into the service's router.
pub fn router(config: &TaxiiConfig) -> Router<Arc<AppState>> {
    let root = format!("/{}", config.api_root);
    let collection = format!("{root}/collections/{{collection}}");
    let object = format!("{collection}/objects/{{object}}");
    let add = axum::routing::post(add_objects).layer(DefaultBodyLimit::max(
        config.max_content_length.saturating_add(1),
    ));
    let routes: Vec<(String, MethodRouter<Arc<AppState>>)> = vec![
        ("/taxii2".into(), get(discovery)),
        (root.clone(), get(api_root)),
        (format!("{root}/status/{{status}}"), get(status)),
        (format!("{root}/collections"), get(collections)),
        (collection.clone(), get(one_collection)),
        (format!("{collection}/manifest"), get(manifest)),
        (format!("{collection}/objects"), get(objects).merge(add)),
        (object.clone(), get(one_object).delete(delete_object)),
        (format!("{object}/versions"), get(versions)),
    ];
    let mut router = Router::new();
    for (path, methods) in routes {
        let methods = methods.fallback(method_not_allowed);
        router = router
            .route(&format!("{path}/"), methods.clone())
            .route(&path, methods);
    }
    router
        .route("/taxii2/{*rest}", any(not_found))
        .route(&format!("{root}/{{*rest}}"), any(not_found))
}

async fn not_found() -> TaxiiError {
    TaxiiError::not_found("TAXII resource")
}

async fn method_not_allowed() -> TaxiiError {
    TaxiiError::new(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
}

/// The TAXII server and the requester, once authenticated and its `Accept` checked.
async fn begin(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Arc<Taxii>, TokenInfo), TaxiiError> {
    let Some(taxii) = state.taxii.clone() else {
        return Err(TaxiiError::not_found("TAXII resource"));
    };
    let token = authenticate(state, headers).await?;
    if !may_use_taxii(&token) {
        return Err(TaxiiError::forbidden(format!(
            "the role {} has no part in TAXII",
            token.role.as_str()
        )));
    }
    check_accept(headers)?;
    Ok((taxii, token))
}

/// Runs a store call on a blocking thread.
async fn on_store<T: Send + 'static>(
    taxii: &Arc<Taxii>,
    work: impl FnOnce(&Taxii) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, TaxiiError> {
    let taxii = Arc::clone(taxii);
    tokio::task::spawn_blocking(move || work(&taxii))
        .await
        .map_err(|error| TaxiiError::internal("the TAXII store failed", error))?
        .map_err(|error| TaxiiError::internal("the TAXII store cannot be used", error))
}

/// The collection a path names, if the requester may see it, with its rights: 404 for an
/// unknown or invisible collection alike.
async fn visible(
    taxii: &Arc<Taxii>,
    token: &TokenInfo,
    path: Result<Path<String>, PathRejection>,
) -> Result<(CollectionRecord, Rights), TaxiiError> {
    let Ok(Path(name)) = path else {
        return Err(TaxiiError::not_found("collection"));
    };
    let found = on_store(taxii, move |taxii| taxii.store.collection(&name)).await?;
    let found = found.map(|record| {
        let granted = rights(token, taxii.config.collection(&record.id));
        (record, granted)
    });
    match found {
        Some((record, granted)) if granted.visible() => Ok((record, granted)),
        _ => Err(TaxiiError::not_found("collection")),
    }
}

/// Like [`visible`] for the paths with an object id.
async fn visible_object(
    taxii: &Arc<Taxii>,
    token: &TokenInfo,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<(CollectionRecord, Rights, String), TaxiiError> {
    let Ok(Path((collection, object))) = path else {
        return Err(TaxiiError::not_found("collection or object"));
    };
    let (record, granted) = visible(taxii, token, Ok(Path(collection))).await?;
    Ok((record, granted, object))
}

fn need_read(granted: Rights) -> Result<(), TaxiiError> {
    match granted.read {
        true => Ok(()),
        false => Err(TaxiiError::forbidden("you may not read this collection")),
    }
}

fn need_write(granted: Rights) -> Result<(), TaxiiError> {
    match granted.write {
        true => Ok(()),
        false => Err(TaxiiError::forbidden("you may not add to this collection")),
    }
}

fn parse_query(taxii: &Taxii, query: Option<&str>) -> Result<Query, TaxiiError> {
    Query::parse(query, taxii.config.limits()).map_err(|e| TaxiiError::bad_request(e.to_string()))
}

/// The URL of the API root, from the request's `Host` (a path alone without one).
fn api_root_url(taxii: &Taxii, headers: &HeaderMap) -> String {
    let path = format!("/{}/", taxii.config.api_root);
    if let Some(public) = &taxii.config.public_url {
        return format!("{}{path}", public.trim_end_matches('/'));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| !host.is_empty() && host.bytes().all(|b| b.is_ascii_graphic()));
    match host {
        Some(host) => {
            let scheme = if taxii.https { "https" } else { "http" };
            format!("{scheme}://{host}{path}")
        }
        None => path,
    }
}

/// `GET /taxii2/`: the discovery resource.
async fn discovery(State(state): Shared, headers: HeaderMap) -> Result<Response, TaxiiError> {
    let (taxii, _) = begin(&state, &headers).await?;
    let url = api_root_url(&taxii, &headers);
    let body = Discovery {
        title: taxii.config.title.clone(),
        description: taxii.config.description.clone(),
        contact: taxii.config.contact.clone(),
        default: Some(url.clone()),
        api_roots: vec![url],
    };
    Ok(taxii_json(StatusCode::OK, &body))
}

/// `GET /{api_root}/`: the API root's information.
async fn api_root(State(state): Shared, headers: HeaderMap) -> Result<Response, TaxiiError> {
    let (taxii, _) = begin(&state, &headers).await?;
    let body = ApiRoot {
        title: taxii.config.title.clone(),
        description: taxii.config.description.clone(),
        versions: vec![MEDIA_TYPE.to_owned()],
        max_content_length: taxii.config.max_content_length as u64,
    };
    Ok(taxii_json(StatusCode::OK, &body))
}

/// `GET /{api_root}/status/{id}/`: an add request's status, for those who see its
/// collection.
async fn status(
    State(state): Shared,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, TaxiiError> {
    let (taxii, token) = begin(&state, &headers).await?;
    let Ok(Path(id)) = path else {
        return Err(TaxiiError::not_found("status"));
    };
    let found = on_store(&taxii, move |taxii| taxii.store.status(&id)).await?;
    match found {
        Some((collection, status))
            if rights(&token, taxii.config.collection(&collection)).visible() =>
        {
            Ok(taxii_json(StatusCode::OK, &status))
        }
        _ => Err(TaxiiError::not_found("status")),
    }
}

/// A collection as the requester sees it.
fn resource(record: CollectionRecord, granted: Rights) -> Collection {
    Collection {
        id: record.id,
        title: record.title,
        description: record.description,
        alias: record.alias,
        can_read: granted.read,
        can_write: granted.write,
        media_types: vec![STIX_MEDIA_TYPE.to_owned()],
    }
}

/// `GET /{api_root}/collections/`: the collections the requester may see.
async fn collections(State(state): Shared, headers: HeaderMap) -> Result<Response, TaxiiError> {
    let (taxii, token) = begin(&state, &headers).await?;
    let records = on_store(&taxii, |taxii| taxii.store.collections()).await?;
    let collections = records
        .into_iter()
        .map(|record| {
            let granted = rights(&token, taxii.config.collection(&record.id));
            (record, granted)
        })
        .filter(|(_, granted)| granted.visible())
        .map(|(record, granted)| resource(record, granted))
        .collect();
    Ok(taxii_json(StatusCode::OK, &Collections { collections }))
}

/// `GET /{api_root}/collections/{id}/`: one collection.
async fn one_collection(
    State(state): Shared,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, TaxiiError> {
    let (taxii, token) = begin(&state, &headers).await?;
    let (record, granted) = visible(&taxii, &token, path).await?;
    Ok(taxii_json(StatusCode::OK, &resource(record, granted)))
}

/// `GET .../manifest/`: a page of the collection's manifest.
async fn manifest(
    State(state): Shared,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    let (taxii, token) = begin(&state, &headers).await?;
    let (record, granted) = visible(&taxii, &token, path).await?;
    need_read(granted)?;
    let query = parse_query(&taxii, query.as_deref())?;
    let page = on_store(&taxii, move |taxii| {
        taxii.store.manifest(&record.id, &query)
    })
    .await?;
    let body = Manifest {
        more: page.more,
        next: page.next,
        objects: page.items,
    };
    Ok(paged(&body, page.first_added, page.last_added))
}

/// `GET .../objects/`: a page of the collection's objects.
async fn objects(
    State(state): Shared,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    let (taxii, token) = begin(&state, &headers).await?;
    let (record, granted) = visible(&taxii, &token, path).await?;
    need_read(granted)?;
    let query = parse_query(&taxii, query.as_deref())?;
    let page = on_store(&taxii, move |taxii| taxii.store.objects(&record.id, &query)).await?;
    let body = Envelope {
        more: page.more,
        next: page.next,
        objects: page.items,
    };
    Ok(paged(&body, page.first_added, page.last_added))
}

/// The objects of an envelope body.
fn envelope_objects(body: &[u8]) -> Result<Vec<Value>, TaxiiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| TaxiiError::bad_request(format!("the body is not JSON: {error}")))?;
    match value.get("objects") {
        Some(Value::Array(objects)) => Ok(objects.clone()),
        None if value.is_object() => Ok(Vec::new()),
        _ => Err(TaxiiError::bad_request(
            "the body is not an envelope: an object with an \"objects\" array",
        )),
    }
}

/// 413 when the declared or actual body is larger than `max`.
async fn read_body(
    headers: &HeaderMap,
    body: axum::body::Body,
    max: usize,
) -> Result<Bytes, TaxiiError> {
    let too_large = || {
        TaxiiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request too large")
            .describe(format!("the largest body taken is {max} bytes"))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        // Read (and drop) up to the limit before answering, as the body limit did: a
        // sender still writing would otherwise meet a closed connection, not the 413.
        drain(body, max.saturating_add(DRAIN_SLACK)).await;
        return Err(too_large());
    }
    match axum::body::to_bytes(body, max).await {
        Ok(body) => Ok(body),
        Err(error) if is_length_limit(&error) => Err(too_large()),
        Err(error) => Err(TaxiiError::bad_request(format!(
            "the body cannot be read: {error}"
        ))),
    }
}

/// How far past `max_content_length` a refused body is still read before the answer.
const DRAIN_SLACK: usize = 64 << 10;

/// Reads and drops at most `budget` bytes of `body`.
async fn drain(mut body: axum::body::Body, budget: usize) {
    use http_body_util::BodyExt;
    let mut left = budget;
    while left > 0 {
        match body.frame().await {
            Some(Ok(frame)) => {
                let read = frame.data_ref().map_or(0, |data| data.len());
                left = left.saturating_sub(read.max(1));
            }
            _ => return,
        }
    }
}

/// Whether reading a body failed on its length limit.
fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// `POST .../objects/`: adds an envelope's objects; answers the request's status (202).
async fn add_objects(
    State(state): Shared,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: axum::body::Body,
) -> Result<Response, TaxiiError> {
    // Who asks is known before the body is read: a stranger's upload costs nothing.
    let (taxii, token) = begin(&state, &headers).await?;
    let (record, granted) = visible(&taxii, &token, path).await?;
    need_write(granted)?;
    check_content_type(&headers)?;
    let body = read_body(&headers, body, taxii.config.max_content_length).await?;
    let objects = envelope_objects(&body)?;
    let now = tocsin_taxii::time::now_micros();
    let status = on_store(&taxii, move |taxii| {
        taxii.store.add_objects(&record.id, &objects, now)
    })
    .await?;
    Ok(taxii_json(StatusCode::ACCEPTED, &status))
}

/// 404 unless the collection holds a version of the object.
async fn object_exists(
    taxii: &Arc<Taxii>,
    collection: &str,
    object: &str,
) -> Result<(), TaxiiError> {
    let (collection, object) = (collection.to_owned(), object.to_owned());
    match on_store(taxii, move |taxii| {
        taxii.store.has_object(&collection, &object)
    })
    .await?
    {
        true => Ok(()),
        false => Err(TaxiiError::not_found("object")),
    }
}

/// `GET .../objects/{object_id}/`: the object's versions the filters select.
async fn one_object(
    State(state): Shared,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    let (taxii, token) = begin(&state, &headers).await?;
    let (record, granted, object) = visible_object(&taxii, &token, path).await?;
    need_read(granted)?;
    let mut query = parse_query(&taxii, query.as_deref())?;
    object_exists(&taxii, &record.id, &object).await?;
    query.ids = vec![object];
    query.types.clear();
    let page = on_store(&taxii, move |taxii| taxii.store.objects(&record.id, &query)).await?;
    let body = Envelope {
        more: page.more,
        next: page.next,
        objects: page.items,
    };
    Ok(paged(&body, page.first_added, page.last_added))
}

/// `DELETE .../objects/{object_id}/`: deletes the versions the filters select (all by
/// default).
async fn delete_object(
    State(state): Shared,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    let (taxii, token) = begin(&state, &headers).await?;
    let (record, granted, object) = visible_object(&taxii, &token, path).await?;
    need_write(granted)?;
    let query = parse_query(&taxii, query.as_deref())?;
    object_exists(&taxii, &record.id, &object).await?;
    on_store(&taxii, move |taxii| {
        taxii.store.delete_object(&record.id, &object, &query)
    })
    .await?;
    Ok(taxii_empty(StatusCode::OK))
}

/// `GET .../objects/{object_id}/versions/`: a page of the object's versions.
async fn versions(
    State(state): Shared,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, TaxiiError> {
    let (taxii, token) = begin(&state, &headers).await?;
    let (record, granted, object) = visible_object(&taxii, &token, path).await?;
    need_read(granted)?;
    let query = parse_query(&taxii, query.as_deref())?;
    object_exists(&taxii, &record.id, &object).await?;
    let page = on_store(&taxii, move |taxii| {
        taxii.store.versions(&record.id, &object, &query)
    })
    .await?;
    let body = Versions {
        more: page.more,
        next: page.next,
        versions: page.items,
    };
    Ok(paged(&body, page.first_added, page.last_added))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_do_not_conflict() {
        let config = TaxiiConfig {
            api_root: "shared".into(),
            ..TaxiiConfig::default()
        };
        let _ = router(&config);
        let _ = router(&TaxiiConfig::default());
    }
}
