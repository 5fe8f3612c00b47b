//! Metadata (title, id, status, tags, ...) and `logsource`, shared by all document kinds.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use crate::ast::{Level, Location, LogSource, Metadata, Related, Status};
use crate::error::{DocError, ErrorKind};
use crate::yaml::{self, Node};

/// The top-level keys that [`parse_metadata`] reads; any other key that is not structural
/// (`logsource`, `detection`, ...) is kept in [`Metadata::custom`].
const META_KEYS: &[&str] = &[
    "title",
    "id",
    "name",
    "related",
    "taxonomy",
    "status",
    "description",
    "license",
    "author",
    "references",
    "date",
    "modified",
    "tags",
    "falsepositives",
    "level",
    "fields",
    "scope",
];

/// The `title` and `id` of a document, read leniently so that errors can name the rule even
/// when the document is broken.
pub(crate) fn identity(root: &Node<'_>) -> (Option<String>, Option<String>) {
    let mut title = None;
    let mut id = None;
    for (key, value) in yaml::mapping(root).unwrap_or_default() {
        match yaml::as_str(key) {
            Some("title") => title = yaml::scalar_text(value),
            Some("id") => id = yaml::scalar_text(value),
            _ => {}
        }
    }
    (title, id)
}

/// Reads the metadata from the document's top-level entries. `structural` lists the keys
/// the document kind reads itself (they are not custom attributes).
pub(crate) fn parse_metadata(
    root: &Node<'_>,
    entries: &[(&Node<'_>, &Node<'_>)],
    structural: &[&str],
    path: &Path,
) -> Result<Metadata, DocError> {
    let mut meta = Metadata {
        location: Location {
            path: path.to_path_buf(),
            line: yaml::line(root),
        },
        ..Metadata::default()
    };
    let mut title = None;
    for &(key, value) in entries {
        let Some(name) = yaml::key_text(key) else {
            return Err(yaml::wrong_type(key, "", "a string key"));
        };
        let ctx = name.as_str();
        if yaml::is_null(value) && name != "title" {
            // An empty optional attribute (`falsepositives:` with nothing) means absent.
            if !META_KEYS.contains(&ctx) && !structural.contains(&ctx) {
                meta.custom.insert(name.clone(), serde_json::Value::Null);
            }
            continue;
        }
        match ctx {
            "title" => {
                let text = text(value, ctx)?;
                if text.trim().is_empty() {
                    return Err(DocError::new(
                        yaml::line(value),
                        ctx,
                        ErrorKind::InvalidValue("the title is empty".into()),
                    ));
                }
                title = Some(text);
            }
            "id" => meta.id = Some(text(value, ctx)?),
            "name" => meta.name = Some(text(value, ctx)?),
            "taxonomy" => meta.taxonomy = Some(text(value, ctx)?),
            "description" => meta.description = Some(text(value, ctx)?),
            "license" => meta.license = Some(text(value, ctx)?),
            "author" => meta.author = Some(text(value, ctx)?),
            "date" => meta.date = Some(text(value, ctx)?),
            "modified" => meta.modified = Some(text(value, ctx)?),
            "status" => meta.status = Some(status(value)?),
            "level" => meta.level = Some(level(value)?),
            "related" => meta.related = related(value)?,
            "references" => meta.references = yaml::string_list(value, ctx, false)?,
            "tags" => meta.tags = yaml::string_list(value, ctx, false)?,
            "falsepositives" => meta.falsepositives = yaml::string_list(value, ctx, true)?,
            "fields" => meta.fields = yaml::string_list(value, ctx, false)?,
            "scope" => meta.scope = yaml::string_list(value, ctx, false)?,
            _ if structural.contains(&ctx) => {}
            _ => {
                meta.custom.insert(name.clone(), yaml::to_json(value));
            }
        }
    }
    meta.title = title.ok_or_else(|| {
        DocError::new(
            yaml::line(root),
            "",
            ErrorKind::MissingKey(Cow::Borrowed("title")),
        )
    })?;
    Ok(meta)
}

/// A string (or number) attribute.
pub(crate) fn text(node: &Node<'_>, context: &str) -> Result<String, DocError> {
    yaml::scalar_text(node).ok_or_else(|| yaml::wrong_type(node, context, "a string"))
}

fn status(node: &Node<'_>) -> Result<Status, DocError> {
    let value = text(node, "status")?;
    Status::ALL
        .into_iter()
        .find(|status| status.as_str() == value)
        .ok_or_else(|| {
            DocError::new(
                yaml::line(node),
                "status",
                ErrorKind::UnknownValue {
                    what: Cow::Borrowed("status"),
                    value,
                    expected: Cow::Borrowed("stable, test, experimental, deprecated, unsupported"),
                },
            )
        })
}

fn level(node: &Node<'_>) -> Result<Level, DocError> {
    let value = text(node, "level")?;
    match value.as_str() {
        "informational" => Ok(Level::Informational),
        "low" => Ok(Level::Low),
        "medium" => Ok(Level::Medium),
        "high" => Ok(Level::High),
        "critical" => Ok(Level::Critical),
        _ => Err(DocError::new(
            yaml::line(node),
            "level",
            ErrorKind::UnknownValue {
                what: Cow::Borrowed("level"),
                value,
                expected: Cow::Borrowed("informational, low, medium, high, critical"),
            },
        )),
    }
}

fn related(node: &Node<'_>) -> Result<Vec<Related>, DocError> {
    let items = yaml::sequence(node).ok_or_else(|| yaml::wrong_type(node, "related", "a list"))?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ctx = format!("related[{i}]");
        let entries = yaml::mapping(item)
            .ok_or_else(|| yaml::wrong_type(item, &ctx, "a mapping with 'id' and 'type'"))?;
        let mut id = None;
        let mut kind = None;
        for (key, value) in entries {
            match yaml::as_str(key) {
                Some("id") => id = Some(text(value, &format!("{ctx}.id"))?),
                Some("type") => kind = Some((text(value, &format!("{ctx}.type"))?, value)),
                _ => {}
            }
        }
        let id = id.ok_or_else(|| {
            DocError::new(
                yaml::line(item),
                &ctx,
                ErrorKind::MissingKey(Cow::Borrowed("id")),
            )
        })?;
        let (kind, kind_node) = kind.ok_or_else(|| {
            DocError::new(
                yaml::line(item),
                &ctx,
                ErrorKind::MissingKey(Cow::Borrowed("type")),
            )
        })?;
        if !matches!(
            kind.as_str(),
            "derived" | "obsolete" | "merged" | "renamed" | "similar"
        ) {
            return Err(DocError::new(
                yaml::line(kind_node),
                format!("{ctx}.type"),
                ErrorKind::UnknownValue {
                    what: Cow::Borrowed("relation type"),
                    value: kind,
                    expected: Cow::Borrowed("derived, obsolete, merged, renamed, similar"),
                },
            ));
        }
        out.push(Related { id, kind });
    }
    Ok(out)
}

/// Reads a `logsource` mapping.
pub(crate) fn parse_logsource(node: &Node<'_>) -> Result<LogSource, DocError> {
    let entries =
        yaml::mapping(node).ok_or_else(|| yaml::wrong_type(node, "logsource", "a mapping"))?;
    let mut source = LogSource::default();
    let mut custom = BTreeMap::new();
    for (key, value) in entries {
        let name = yaml::key_text(key)
            .ok_or_else(|| yaml::wrong_type(key, "logsource", "a string key"))?;
        let ctx = format!("logsource.{name}");
        if yaml::is_null(value) {
            continue;
        }
        match name.as_str() {
            "category" => source.category = Some(text(value, &ctx)?),
            "product" => source.product = Some(text(value, &ctx)?),
            "service" => source.service = Some(text(value, &ctx)?),
            "definition" => source.definition = Some(text(value, &ctx)?),
            _ => {
                let text =
                    yaml::scalar_text(value).unwrap_or_else(|| yaml::to_json(value).to_string());
                custom.insert(name, text);
            }
        }
    }
    source.custom = custom;
    Ok(source)
}
